//go:build e2e

package e2eutil

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// PingStats reads sent and received from ping's summary line.
func PingStats(out string) (sent, received int, err error) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no summary in ping's output: %q", out)
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received, nil
}

// Ping sends count echo requests from a namespace and wants every answer.
func Ping(ctx context.Context, fromNs string, to netip.Addr, count int) error {
	out, runErr := Run(ctx, "ip", "netns", "exec", fromNs, "ping", "-n", "-q",
		"-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", to.String())
	sent, received, err := PingStats(out)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w (%v)", to, fromNs, err, runErr)
	}
	if received != count {
		return fmt.Errorf("ping %s from %s: sent %d, received %d", to, fromNs, sent, received)
	}
	return nil
}

// Pinger is a ping running in the background, to count losses across an event.
type Pinger struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error

	stopOnce sync.Once
	count    PingCount
	stopErr  error
}

// PingCount is what a Pinger saw: how many echo requests it sent, which
// went unanswered and when, so that a loss can be laid next to the agent's
// log.
type PingCount struct {
	Sent, Received int
	// Lost are the unanswered requests, oldest first.
	Lost []LostPing
	// LastInFlight: the last request was sent less than one round trip
	// before the stop, so ping counts it as sent but its answer could not
	// have come yet. It is neither received nor lost.
	LastInFlight bool
}

// LostPing is one unanswered echo request. At is when ping gave up
// waiting for it before sending the next (-O), or zero when it did not say.
type LostPing struct {
	Seq int
	At  time.Time
}

// String is the count for a test log: "sent 113, lost 2: icmp_seq 57
// (18:59:33.123), 58 (18:59:33.173)".
func (c PingCount) String() string {
	s := fmt.Sprintf("sent %d, lost %d", c.Sent, len(c.Lost))
	for i, l := range c.Lost {
		if i == 0 {
			s += ": icmp_seq "
		} else {
			s += ", "
		}
		if i == 10 {
			s += fmt.Sprintf("... %d more", len(c.Lost)-i)
			break
		}
		s += strconv.Itoa(l.Seq)
		if !l.At.IsZero() {
			s += " (" + l.At.Format("15:04:05.000") + ")"
		}
	}
	if c.LastInFlight {
		s += "; the last one was in flight at the stop"
	}
	return s
}

// StartPinger pings to from fromNs every interval. ping's own -w deadline
// bounds it even if the suite dies without stopping it. -D stamps each
// line and -O reports a request still unanswered when the next is sent,
// so a loss comes with its time.
func StartPinger(fromNs string, to netip.Addr, interval, maxRun time.Duration) (*Pinger, error) {
	p := &Pinger{done: make(chan error, 1)}
	p.cmd = exec.Command("ip", "netns", "exec", fromNs, "ping", "-n", "-D", "-O",
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64),
		"-W", "1", "-w", strconv.Itoa(int(maxRun.Seconds())), to.String())
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ping %s from %s: %w", to, fromNs, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}

// Stop ends the ping with SIGINT, which makes it print its summary, and
// returns the count. `ip netns exec` execs ping in place, so the pid is
// ping's own.
// Calling it again returns the same count.
func (p *Pinger) Stop() (PingCount, error) {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("ping did not stop on SIGINT; output: %q", p.out.String())
			return
		}
		p.count, p.stopErr = ParsePingOutput(p.out.String())
	})
	return p.count, p.stopErr
}

var (
	pingReply   = regexp.MustCompile(`(?m)^\[[0-9.]+\] \d+ bytes from .*icmp_seq=(\d+)`)
	pingNoReply = regexp.MustCompile(`(?m)^\[([0-9]+)\.([0-9]+)\] no answer yet for icmp_seq=(\d+)`)
)

// ParsePingOutput reads the output of `ping -D -O` (without -q): the
// summary's counts, and which sequence numbers never got a reply. ping
// numbers requests from 1, so the sent ones are 1..Sent; a reply line
// counts once even if it came late.
func ParsePingOutput(out string) (PingCount, error) {
	sent, received, err := PingStats(out)
	if err != nil {
		return PingCount{}, err
	}
	c := PingCount{Sent: sent, Received: received}
	answered := make(map[int]bool)
	for _, m := range pingReply.FindAllStringSubmatch(out, -1) {
		seq, _ := strconv.Atoi(m[1])
		answered[seq] = true
	}
	gaveUp := make(map[int]time.Time)
	for _, m := range pingNoReply.FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		usec, _ := strconv.ParseInt((m[2] + "000000")[:6], 10, 64)
		seq, _ := strconv.Atoi(m[3])
		gaveUp[seq] = time.Unix(sec, usec*1000)
	}
	for seq := 1; seq <= sent; seq++ {
		if answered[seq] {
			continue
		}
		if seq == sent && gaveUp[seq].IsZero() {
			// Sent, never reported as overdue, and the stop came
			// before its answer could: in flight, not lost.
			c.LastInFlight = true
			continue
		}
		c.Lost = append(c.Lost, LostPing{Seq: seq, At: gaveUp[seq]})
	}
	if got := len(answered); got != received {
		return c, fmt.Errorf("ping's summary says %d received but it printed %d replies: %q", received, got, out)
	}
	return c, nil
}

// PingWatch is the traffic NoPingLost watches: a ping from one namespace to
// one address, every Interval, with Before and After of traffic around the
// event so that a loss at its edges counts too.
type PingWatch struct {
	From     string     // the namespace the ping runs in
	To       netip.Addr // the address it pings
	Interval time.Duration
	// Before and After are the traffic before and after the event; they are
	// part of what is watched, not waits for readiness. Default 1s each.
	Before, After time.Duration
	// MaxRun is ping's own deadline (-w), so it ends even if the suite dies
	// without stopping it; default 3 minutes.
	MaxRun time.Duration
}

const (
	defaultPingInterval = 50 * time.Millisecond
	// MinPingsSent is the least NoPingLost accepts however short the event:
	// "0 lost" over 3 pings means nothing.
	MinPingsSent = 20
)

// NoPingLost pings while during runs and fails the test unless no ping was
// lost and ping really ran through the event: it must have sent at least
// half of what the interval allows over the time watched, and never fewer
// than MinPingsSent. Each lost ping is named by icmp_seq and time (see
// PingCount.String) so a loss can be laid next to the agents' logs. An
// error from during fails the test after the count is logged. It returns
// the count and how long during took.
func NoPingLost(t *testing.T, w PingWatch, what string, during func() error) (PingCount, time.Duration) {
	t.Helper()
	if w.Interval == 0 {
		w.Interval = defaultPingInterval
	}
	if w.Before == 0 {
		w.Before = time.Second
	}
	if w.After == 0 {
		w.After = time.Second
	}
	if w.MaxRun == 0 {
		w.MaxRun = 3 * time.Minute
	}
	LogStep(t, "%s: ping -i %.2f from %s to %s", what, w.Interval.Seconds(), w.From, w.To)
	p, err := StartPinger(w.From, w.To, w.Interval, w.MaxRun)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop() }) // when during fails the test
	started := time.Now()
	time.Sleep(w.Before)
	eventStart := time.Now()
	err = during()
	took := time.Since(eventStart)
	if err == nil {
		time.Sleep(w.After)
	}
	watched := time.Since(started)
	pings, perr := p.Stop()
	if perr != nil {
		t.Fatalf("%s: %v", what, perr)
	}
	t.Logf("%s: pings %s over %s (ping every %s)", what, pings, watched.Round(100*time.Millisecond), w.Interval)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := CheckNoPingLost(pings, watched, w.Interval); err != nil {
		t.Errorf("%s: %v", what, err)
	}
	return pings, took
}

// CheckNoPingLost fails a count with a lost ping, or one whose ping sent
// fewer than half of what interval allows over watched (or fewer than
// MinPingsSent): it did not run through what it was meant to watch.
func CheckNoPingLost(c PingCount, watched, interval time.Duration) error {
	floor := max(MinPingsSent, int(watched/interval/2))
	if c.Sent < floor {
		return fmt.Errorf("ping sent only %d packets over %s (want at least %d): it did not run through the event", c.Sent, watched.Round(100*time.Millisecond), floor)
	}
	if len(c.Lost) > 0 {
		return fmt.Errorf("pings lost: %s", c)
	}
	return nil
}
