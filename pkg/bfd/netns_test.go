package bfd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

const nsPrefix = "nbgp-bfd-"

func TestMain(m *testing.M) {
	netnstest.RemoveLeftovers(nsPrefix)
	os.Exit(m.Run())
}

// inNS runs f on a fresh thread inside ns; the thread is never given back.
func inNS(ns netnstest.NS) func(func()) {
	return func(f func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			if err := netns.Set(ns.Handle); err != nil {
				panic(fmt.Sprintf("entering %s: %v", ns.Name, err))
			}
			f()
		}()
		<-done
	}
}

// pair is two namespaces joined by a veth: a (10.251.0.1, 2001:db8:251::1)
// and b (10.251.0.2 and .3, 2001:db8:251::2).
type pair struct{ a, b netnstest.NS }

var (
	a4 = netip.MustParseAddr("10.251.0.1")
	b4 = netip.MustParseAddr("10.251.0.2")
	c4 = netip.MustParseAddr("10.251.0.3") // also on b, no BFD behind it
	a6 = netip.MustParseAddr("2001:db8:251::1")
	b6 = netip.MustParseAddr("2001:db8:251::2")
)

func newPair(t *testing.T) pair {
	p := pair{a: netnstest.New(t, nsPrefix), b: netnstest.New(t, nsPrefix)}
	netnstest.Run(t, "ip", "-n", p.a.Name, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", p.b.Name)
	for _, c := range [][]string{
		{p.a.Name, "addr", "add", "10.251.0.1/24", "dev", "a0"},
		{p.a.Name, "addr", "add", "2001:db8:251::1/64", "dev", "a0", "nodad"},
		{p.b.Name, "addr", "add", "10.251.0.2/24", "dev", "b0"},
		{p.b.Name, "addr", "add", "10.251.0.3/24", "dev", "b0"},
		{p.b.Name, "addr", "add", "2001:db8:251::2/64", "dev", "b0", "nodad"},
		{p.a.Name, "link", "set", "a0", "up"},
		{p.b.Name, "link", "set", "b0", "up"},
		{p.a.Name, "link", "set", "lo", "up"},
		{p.b.Name, "link", "set", "lo", "up"},
	} {
		netnstest.Run(t, "ip", append([]string{"-n"}, c...)...)
	}
	return p
}

// events records a manager's transitions with their times.
type events struct {
	mu  sync.Mutex
	all []timedEvent
	ch  chan struct{}
}

type timedEvent struct {
	Event
	at time.Time
}

func newEvents() *events { return &events{ch: make(chan struct{}, 1)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, timedEvent{ev, time.Now()})
	e.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// wait waits (bounded) for an event of peer to state after index from, and
// returns it and the index after it.
func (e *events) wait(t *testing.T, peer netip.Addr, to State, from int, timeout time.Duration) (timedEvent, int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		e.mu.Lock()
		for i := from; i < len(e.all); i++ {
			if ev := e.all[i]; ev.Peer == peer && ev.To == to {
				e.mu.Unlock()
				return ev, i + 1
			}
		}
		e.mu.Unlock()
		select {
		case <-e.ch:
		case <-deadline:
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("no %s event for %s within %s; events: %+v", to, peer, timeout, e.all)
		}
	}
}

// startManager starts a manager in ns with peers; it stops when the test ends.
func startManager(t *testing.T, ns netnstest.NS, ev *events, peers ...Peer) *Manager {
	t.Helper()
	var m *Manager
	var err error
	cfg := Config{
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("ns", ns.Name),
		OnChange: ev.add,
		inNetns:  inNS(ns),
	}
	inNS(ns)(func() { m, err = New(cfg) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := m.Set(peers); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTwoEndpoints(t *testing.T) {
	netnstest.RequireRoot(t)
	p := newPair(t)
	evA, evB := newEvents(), newEvents()
	start := time.Now()
	ma := startManager(t, p.a, evA, Peer{Address: b4, Local: a4, Timers: DefaultTimers}, Peer{Address: b6, Local: a6, Timers: DefaultTimers})
	startManager(t, p.b, evB, Peer{Address: a4, Local: b4, Timers: DefaultTimers}, Peer{Address: a6, Local: b6, Timers: DefaultTimers})
	evA.wait(t, b4, Up, 0, 5*time.Second)
	evA.wait(t, b6, Up, 0, 5*time.Second)
	_, nb := evB.wait(t, a4, Up, 0, 5*time.Second)
	t.Logf("both sessions Up %s after start", time.Since(start).Round(time.Millisecond))
	// Wait for the Poll Sequence that moves to 300 ms to finish.
	time.Sleep(500 * time.Millisecond)
	for _, st := range ma.Status() {
		if st.State != Up || st.TxInterval != 300*time.Millisecond || st.DetectTime != 900*time.Millisecond || st.RemoteDiscr == 0 {
			t.Errorf("status of %s: %+v", st.Peer, st)
		}
	}
	if d := ma.Drops(); d[DropTTL]+d[DropMalformed]+d[DropUnknownPeer]+d[DropUnknownDiscr]+d[DropRateLimited] != 0 {
		t.Errorf("drops between two healthy endpoints: %v", d)
	}

	// Fault: b's packets stop reaching a (b's side of the link goes down,
	// no packet says goodbye). a must notice within the detection time.
	na := len(evA.all)
	fault := time.Now()
	p.b.IP(t, "link", "set", "b0", "down")
	down, _ := evA.wait(t, b4, Down, na, 3*time.Second)
	took := down.at.Sub(fault)
	t.Logf("fault -> Down: %s (%s)", took.Round(time.Millisecond), down.Diag)
	if down.Diag != DiagControlDetectExpired || down.From != Up {
		t.Errorf("down event %+v, want Up -> Down with %q", down.Transition, DiagControlDetectExpired)
	}
	// 3 x 300 ms after the last packet, which came at most one jittered
	// interval before the fault.
	if took < 600*time.Millisecond || took > 1200*time.Millisecond {
		t.Errorf("fault -> Down took %s, want 600ms..1.2s (3 x 300ms)", took)
	}
	heal := time.Now()
	p.b.IP(t, "link", "set", "b0", "up")
	p.b.IP(t, "addr", "replace", "2001:db8:251::2/64", "dev", "b0", "nodad")
	up, _ := evA.wait(t, b4, Up, na, 5*time.Second)
	t.Logf("heal -> Up: %s", up.at.Sub(heal).Round(time.Millisecond))
	if d := up.at.Sub(heal); d > 3*time.Second {
		t.Errorf("heal -> Up took %s, want at most 3s", d)
	}

	// A planned stop: a says AdminDown, b's session goes Down with the
	// neighbor's diagnostic, not a timeout.
	nb = len(evB.all)
	ma.Set(nil)
	adm, _ := evB.wait(t, a4, Down, nb, 2*time.Second)
	if adm.Diag != DiagNeighborSignaledDown || adm.RemoteState != AdminDown || adm.RemoteDiag != DiagAdminDown {
		t.Errorf("after a's AdminDown, b saw %+v", adm.Transition)
	}
}

// sendRaw sends b from src:sport to dst:3784 with the given TTL, in ns.
func sendRaw(t *testing.T, ns netnstest.NS, src, dst netip.Addr, ttl int, b []byte) {
	t.Helper()
	inNS(ns)(func() {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: src.AsSlice()}, Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) })
		}}
		c, err := d.Dial("udp4", netip.AddrPortFrom(dst, Port).String())
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Errorf("write: %v", err)
		}
	})
}

// TestBadInput: each kind of bad packet is dropped and counted, and the
// healthy session stays Up through all of them, and through a flood from
// another configured peer.
func TestBadInput(t *testing.T) {
	netnstest.RequireRoot(t)
	p := newPair(t)
	evA, evB := newEvents(), newEvents()
	ma := startManager(t, p.a, evA, Peer{Address: b4, Local: a4, Timers: DefaultTimers}, Peer{Address: c4, Local: a4, Timers: DefaultTimers})
	startManager(t, p.b, evB, Peer{Address: a4, Local: b4, Timers: DefaultTimers})
	evA.wait(t, b4, Up, 0, 5*time.Second)
	n := len(evA.all)

	good := Packet{State: Down, DetectMult: 3, MyDiscr: 77, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
	for _, tc := range []struct {
		name string
		src  netip.Addr
		ttl  int
		b    []byte
		want string
	}{
		{"TTL 254 (a routed packet)", b4, 254, good.Marshal(nil), DropTTL},
		{"TTL 1", b4, 1, good.Marshal(nil), DropTTL},
		{"bad version", b4, 255, func() []byte { b := good.Marshal(nil); b[0] = 0x40; return b }(), DropMalformed},
		{"bad length", b4, 255, func() []byte { b := good.Marshal(nil); b[3] = 99; return b }(), DropMalformed},
		{"short", b4, 255, good.Marshal(nil)[:10], DropMalformed},
		{"authentication", b4, 255, func() []byte { b := good.Marshal(nil); b[1] |= bitAuth; return b }(), DropAuth},
		{"unknown discriminator", b4, 255, Packet{State: Up, DetectMult: 3, MyDiscr: 77, YourDiscr: 12345}.Marshal(nil), DropUnknownDiscr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ma.Drops()[tc.want]
			sendRaw(t, p.b, tc.src, a4, tc.ttl, tc.b)
			deadline := time.Now().Add(2 * time.Second)
			for ma.Drops()[tc.want] == before {
				if time.Now().After(deadline) {
					t.Fatalf("drop %q not counted: %v", tc.want, ma.Drops())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// An address with no session: a's manager has none for 10.251.0.4, so
	// add it to b and send from it.
	p.b.IP(t, "addr", "add", "10.251.0.4/24", "dev", "b0")
	before := ma.Drops()[DropUnknownPeer]
	sendRaw(t, p.b, netip.MustParseAddr("10.251.0.4"), a4, 255, good.Marshal(nil))
	for deadline := time.Now().Add(2 * time.Second); ma.Drops()[DropUnknownPeer] == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("packet from an unknown address not counted: %v", ma.Drops())
		}
	}

	// Flood: c4 is a configured peer; it sends as fast as it can for 3 s.
	// b's session must stay Up throughout, c's packets beyond its rate are
	// dropped.
	stop := time.Now().Add(3 * time.Second)
	var sent int
	inNS(p.b)(func() {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: c4.AsSlice()}, Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, 255) })
		}}
		c, err := d.Dial("udp4", netip.AddrPortFrom(a4, Port).String())
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		b := Packet{State: Down, Poll: true, DetectMult: 3, MyDiscr: 99, DesiredMinTx: time.Second, RequiredMinRx: time.Second}.Marshal(nil)
		for time.Now().Before(stop) {
			c.Write(b)
			sent++
		}
	})
	t.Logf("flood: %d packets sent in 3s; drops %v", sent, ma.Drops())
	if ma.Drops()[DropRateLimited] == 0 {
		t.Errorf("a flood of %d packets was not rate limited: %v", sent, ma.Drops())
	}
	evA.mu.Lock()
	for _, ev := range evA.all[n:] {
		if ev.Peer == b4 {
			t.Errorf("b's session changed during the bad input and flood: %+v", ev.Transition)
		}
	}
	evA.mu.Unlock()
	for _, st := range ma.Status() {
		if st.Peer == b4 && st.State != Up {
			t.Errorf("b's session is %s after the flood", st.State)
		}
	}
}
