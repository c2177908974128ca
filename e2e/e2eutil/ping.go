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

	stopOnce       sync.Once
	sent, received int
	stopErr        error
}

// StartPinger pings to from fromNs every interval. ping's own -w deadline
// bounds it even if the suite dies without stopping it.
func StartPinger(fromNs string, to netip.Addr, interval, maxRun time.Duration) (*Pinger, error) {
	p := &Pinger{done: make(chan error, 1)}
	p.cmd = exec.Command("ip", "netns", "exec", fromNs, "ping", "-n", "-q",
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
// returns the counts. `ip netns exec` execs ping in place, so the pid is
// ping's own.
// Calling it again returns the same counts.
func (p *Pinger) Stop() (sent, received int, err error) {
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
		p.sent, p.received, p.stopErr = PingStats(p.out.String())
	})
	return p.sent, p.received, p.stopErr
}
