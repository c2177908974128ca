package bfd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Peer is a BFD session to have: one per peer address.
type Peer struct {
	// Address is the peer's address (the BGP neighbor address).
	Address netip.Addr
	// Local sources our packets: the BGP session's local address, so the
	// peer sees the address it has the BGP neighbor for. Zero = the kernel
	// picks one.
	Local  netip.Addr
	Timers Timers
}

// Event is a state change of the session with Peer.
type Event struct {
	Peer netip.Addr
	Transition
}

// Config sets a Manager up.
type Config struct {
	Logger *slog.Logger
	// OnChange hears every state change, in order for each session, from
	// that session's goroutine; it must not block.
	OnChange func(Event)
	// port is the UDP port to listen on and send to; 0 = Port. Tests only.
	port int
	// inNetns runs f where the sending sockets are to be made; nil = on
	// the calling goroutine. Tests with several namespaces in one process.
	inNetns func(f func())
}

// Status is one session as it is now.
type Status struct {
	Peer, Local             netip.Addr
	State, RemoteState      State
	Diag, RemoteDiag        Diag
	LocalDiscr, RemoteDiscr uint32
	Timers                  Timers
	// TxInterval is the interval between our periodic packets, DetectTime
	// how long the peer may stay silent (0 until we heard from it).
	TxInterval, DetectTime time.Duration
	// RemoteControlPlaneIndependent is the peer's C bit.
	RemoteControlPlaneIndependent bool
}

// The reasons a received packet is dropped, each counted.
const (
	DropTTL             = "ttl"
	DropMalformed       = "malformed" // too short, bad length or version, zero fields
	DropAuth            = "authentication"
	DropUnknownPeer     = "unknown-peer"
	DropUnknownDiscr    = "unknown-discriminator"
	DropRateLimited     = "rate-limited"
	dropReasons         = 6
	farewellPackets     = 3
	farewellSpacing     = 50 * time.Millisecond
	dialRetry           = time.Second
	rateBurst           = 20
	readErrorBackoff    = 10 * time.Millisecond
	maxDatagram         = 512
	controlMessageSpace = 128
)

var dropNames = [dropReasons]string{DropTTL, DropMalformed, DropAuth, DropUnknownPeer, DropUnknownDiscr, DropRateLimited}

// Manager runs the BFD sessions of one node: two listening sockets (IPv4,
// IPv6) shared by all sessions, and per session a sending socket and a
// goroutine that sends and times out.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	port int

	ctx    context.Context // ends when Run ends
	cancel context.CancelFunc
	conns  []*net.UDPConn
	v4Err  error // why there is no IPv4 listener, if there is none
	v6Err  error

	mu      sync.Mutex
	byAddr  map[netip.Addr]*runner
	byDiscr map[uint32]*runner
	wg      sync.WaitGroup

	drops [dropReasons]atomic.Uint64
	// grid is the origin of the sessions' common send grid (see txGrid).
	grid time.Time
}

// New opens the listening sockets. A family whose socket cannot be opened
// (IPv6 disabled, say) only fails the sessions of that family; with
// neither, New fails.
func New(cfg Config) (*Manager, error) {
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		port:    cfg.port,
		byAddr:  map[netip.Addr]*runner{},
		byDiscr: map[uint32]*runner{},
		grid:    time.Now(),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.port == 0 {
		m.port = Port
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	c4, err := listen(m.ctx, false, m.port)
	if err != nil {
		m.v4Err = err
	} else {
		m.conns = append(m.conns, c4)
	}
	c6, err := listen(m.ctx, true, m.port)
	if err != nil {
		m.v6Err = err
	} else {
		m.conns = append(m.conns, c6)
	}
	if len(m.conns) == 0 {
		m.cancel()
		return nil, fmt.Errorf("BFD: %w", errors.Join(m.v4Err, m.v6Err))
	}
	return m, nil
}

// Run reads packets until ctx ends. Then every session sends AdminDown a
// few times (RFC 5880 §6.8.16: the peer learns it is a planned stop, not a
// failure) and the sockets close.
func (m *Manager) Run(ctx context.Context) error {
	for _, c := range m.conns {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.read(c)
		}()
	}
	<-ctx.Done()
	m.mu.Lock()
	for addr, r := range m.byAddr {
		m.stopLocked(addr, r)
	}
	m.mu.Unlock()
	m.cancel()
	for _, c := range m.conns {
		c.Close()
	}
	m.wg.Wait()
	return nil
}

// Set makes the sessions those of peers: new ones start Down, removed ones
// say AdminDown and end, changed timers apply to the running session (with
// a Poll Sequence), a changed local address starts the session anew. A
// peer that cannot be run (bad timers, no socket for its family) is
// reported, naming it, and the rest applies.
func (m *Manager) Set(peers []Peer) error {
	var errs []error
	want := map[netip.Addr]Peer{}
	for _, p := range peers {
		p.Address, p.Local = p.Address.Unmap(), p.Local.Unmap()
		if err := m.check(p); err != nil {
			errs = append(errs, fmt.Errorf("BFD peer %s: %w", p.Address, err))
			continue
		}
		if _, dup := want[p.Address]; dup {
			errs = append(errs, fmt.Errorf("BFD peer %s: listed more than once", p.Address))
			continue
		}
		want[p.Address] = p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		// Run has ended (the agent is stopping): nothing to start.
		return errors.Join(errs...)
	}
	for addr, r := range m.byAddr {
		p, ok := want[addr]
		if !ok || p.Local != r.peer.Local {
			m.stopLocked(addr, r)
		}
	}
	for addr, p := range want {
		r, ok := m.byAddr[addr]
		if !ok {
			m.startLocked(p)
			continue
		}
		if r.peer.Timers != p.Timers {
			r.mu.Lock()
			r.peer.Timers = p.Timers
			r.s.reconfigure(p.Timers, time.Now())
			r.mu.Unlock()
			r.poke()
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) check(p Peer) error {
	switch {
	case !p.Address.IsValid() || p.Address.IsUnspecified() || p.Address.Zone() != "":
		return fmt.Errorf("address %q cannot have a session", p.Address)
	case p.Local.IsValid() && p.Local.Is4() != p.Address.Is4():
		return fmt.Errorf("local address %s is not of the peer's family", p.Local)
	case p.Address.Is4() && m.v4Err != nil:
		return m.v4Err
	case p.Address.Is6() && m.v6Err != nil:
		return m.v6Err
	}
	return p.Timers.Check()
}

// Status lists the sessions, by peer address.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.byAddr))
	for _, r := range m.byAddr {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.status())
	}
	slices.SortFunc(out, func(a, b Status) int { return a.Peer.Compare(b.Peer) })
	return out
}

// Drops returns how many received packets were dropped, by reason.
func (m *Manager) Drops() map[string]uint64 {
	out := make(map[string]uint64, dropReasons)
	for i, name := range dropNames {
		out[name] = m.drops[i].Load()
	}
	return out
}

func (m *Manager) drop(reason string) {
	m.drops[slices.Index(dropNames[:], reason)].Add(1)
}

// startLocked starts a session; m.mu is held.
func (m *Manager) startLocked(p Peer) {
	discr := rand.Uint32()
	for discr == 0 || m.byDiscr[discr] != nil {
		discr = rand.Uint32()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runner{
		m:      m,
		peer:   p,
		s:      newSession(sessionParams{localDiscr: discr, timers: p.Timers, now: time.Now(), rand: rand.Float64, grid: m.grid}),
		wake:   make(chan struct{}, 1),
		cancel: cancel,
		tokens: rateBurst,
	}
	m.byAddr[p.Address] = r
	m.byDiscr[discr] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(ctx)
	}()
}

// stopLocked ends a session: it leaves the tables at once (its peer's
// packets are then dropped as unknown) and says AdminDown on its way out.
func (m *Manager) stopLocked(addr netip.Addr, r *runner) {
	delete(m.byAddr, addr)
	delete(m.byDiscr, r.s.localDiscr) // fixed for the session's life
	r.cancel()
}

// read delivers the packets of one listening socket until it is closed.
func (m *Manager) read(c *net.UDPConn) {
	buf := make([]byte, maxDatagram)
	oob := make([]byte, controlMessageSpace)
	for {
		n, oobn, _, src, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(readErrorBackoff)
			continue
		}
		m.deliver(buf[:n], oob[:oobn], src.Addr().Unmap(), time.Now())
	}
}

// deliver checks a datagram and hands it to its session; anything else is
// dropped and counted. The work per packet is small and bounded, and each
// session takes only so many packets per second, so a peer that floods
// cannot hold the others' packets up for long.
func (m *Manager) deliver(b, oob []byte, src netip.Addr, now time.Time) {
	info := parseControl(oob)
	if !info.hasTTL || info.ttl != ttl {
		m.drop(DropTTL)
		return
	}
	p, err := Unmarshal(b)
	switch {
	case errors.Is(err, ErrAuth):
		m.drop(DropAuth)
		return
	case err != nil:
		m.drop(DropMalformed)
		return
	}
	m.mu.Lock()
	var r *runner
	if p.YourDiscr != 0 {
		r = m.byDiscr[p.YourDiscr]
		if r == nil {
			m.mu.Unlock()
			m.drop(DropUnknownDiscr)
			return
		}
		if r.peer.Address != src {
			r = nil
		}
	} else {
		r = m.byAddr[src]
	}
	m.mu.Unlock()
	// The session is between two addresses: a packet of the peer to
	// another of our addresses belongs to no session of ours.
	if r == nil || (r.peer.Local.IsValid() && info.dst.IsValid() && info.dst != r.peer.Local) {
		m.drop(DropUnknownPeer)
		return
	}
	if !r.receive(p, now) {
		m.drop(DropRateLimited)
	}
}

func (m *Manager) do(f func()) {
	if m.cfg.inNetns != nil {
		m.cfg.inNetns(f)
		return
	}
	f()
}

// emit logs a transition, once, and tells the owner.
func (m *Manager) emit(peer netip.Addr, tr Transition) {
	m.log.Info("BFD session "+tr.To.String(), "event", "bfd-state", "peer", peer.String(),
		"from", tr.From.String(), "to", tr.To.String(), "diag", tr.Diag.String(),
		"remote_state", tr.RemoteState.String(), "remote_diag", tr.RemoteDiag.String())
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(Event{Peer: peer, Transition: tr})
	}
}

// runner is one session with its sending socket and goroutine.
type runner struct {
	m      *Manager
	wake   chan struct{}
	cancel context.CancelFunc

	mu      sync.Mutex
	peer    Peer
	s       *session
	pending []Transition // changes seen by the reader, emitted by run
	// A token bucket on received packets (see receive).
	tokens   float64
	lastFill time.Time
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// receive applies a packet unless the peer is over its rate; false = dropped.
// A peer may send no faster than our RequiredMinRx (RFC 5880 §6.8.7), plus
// Polls, Finals and state changes: three times that rate, and a burst, are
// taken.
func (r *runner) receive(p Packet, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rate := 3*float64(time.Second)/float64(r.s.requiredMinRx) + 5
	if !r.lastFill.IsZero() {
		r.tokens = min(rateBurst, r.tokens+now.Sub(r.lastFill).Seconds()*rate)
	}
	r.lastFill = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	tr, changed := r.s.receive(p, now)
	if changed {
		r.pending = append(r.pending, tr)
	}
	if changed || r.s.sendNow {
		r.poke()
	}
	return true
}

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	return Status{
		Peer: r.peer.Address, Local: r.peer.Local,
		State: s.state, RemoteState: s.remoteState,
		Diag: s.diag, RemoteDiag: s.remoteDiag,
		LocalDiscr: s.localDiscr, RemoteDiscr: s.remoteDiscr,
		Timers:     r.peer.Timers,
		TxInterval: s.txInterval(), DetectTime: s.detectTime(),
	}
}

// run sends, times out and reports the session until ctx ends, then says
// AdminDown a few times.
func (r *runner) run(ctx context.Context) {
	var conn *net.UDPConn
	var nextDial time.Time
	var lastErr string
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	buf := make([]byte, 0, PacketLen)
	send := func(b []byte) {
		if conn == nil || len(b) == 0 {
			return
		}
		if _, err := conn.Write(b); err != nil && err.Error() != lastErr {
			// Refused (no BFD at the peer yet) or unreachable: said once
			// per kind, the session's state tells the rest.
			lastErr = err.Error()
			r.m.log.Debug("BFD send failed", "event", "bfd-send", "peer", r.peer.Address.String(), "reason", lastErr)
		}
	}
	for {
		now := time.Now()
		if conn == nil && !now.Before(nextDial) {
			var c *net.UDPConn
			var err error
			r.m.do(func() { c, err = dial(ctx, r.peer.Local, r.peer.Address, r.m.port) })
			if err != nil {
				nextDial = now.Add(dialRetry)
				if err.Error() != lastErr {
					lastErr = err.Error()
					r.m.log.Warn("BFD session cannot send", "event", "bfd-socket", "peer", r.peer.Address.String(), "reason", lastErr)
				}
			} else {
				conn = c
			}
		}
		r.mu.Lock()
		if tr, ok := r.s.expire(now); ok {
			r.pending = append(r.pending, tr)
		}
		var out []byte
		if r.s.due(now) {
			out = r.s.packet().Marshal(buf[:0])
			r.s.sent(now)
		}
		pending := r.pending
		r.pending = nil
		next, ok := r.s.deadline()
		r.mu.Unlock()

		send(out)
		for _, tr := range pending {
			r.m.emit(r.peer.Address, tr)
		}
		wait := time.Hour
		if ok {
			wait = max(0, next.Sub(now))
		}
		if conn == nil {
			wait = min(wait, max(0, nextDial.Sub(now)))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			r.farewell(send)
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// farewell sends AdminDown a few times: one packet can be lost.
func (r *runner) farewell(send func([]byte)) {
	r.mu.Lock()
	r.s.setAdmin(true, time.Now())
	pkt := r.s.packet()
	pkt.Final = false
	b := pkt.Marshal(nil)
	r.mu.Unlock()
	for i := range farewellPackets {
		if i > 0 {
			time.Sleep(farewellSpacing)
		}
		send(b)
	}
}
