package bfd

import "time"

// Transition is one state change of a session, with the diagnostic it
// carries (ours, or the peer's when it signalled the change).
type Transition struct {
	From, To State
	Diag     Diag
	// RemoteState and RemoteDiag are the state and diagnostic in the peer's
	// last packet: RemoteState AdminDown means the peer stopped BFD on
	// purpose, which is no failure of the path (RFC 5882 §3.2).
	RemoteState State
	RemoteDiag  Diag
}

// sessionParams start a session.
type sessionParams struct {
	localDiscr uint32
	timers     Timers
	now        time.Time
	// rand returns a number in [0, 1) for the transmit jitter.
	rand func() float64
	// grid, when set, is the origin of the grid of txGrid steps that
	// periodic packets are sent on; zero sends at the jittered time.
	grid time.Time
}

// session is one BFD session's state (RFC 5880 §6.8.1) and the rules that
// change it (§6.8.2-6.8.7). It does no I/O and reads no clock: the caller
// passes the time to every method, asks due/packet/sent what to send, and
// deadline when to come back. Not safe for concurrent use.
type session struct {
	timers Timers // as configured

	state, remoteState      State
	localDiscr, remoteDiscr uint32
	diag, remoteDiag        Diag
	remoteMult              uint8
	remoteMinRx             time.Duration // bfd.RemoteMinRxInterval
	remoteDesiredMinTx      time.Duration
	remoteDemand            bool

	// desiredMinTx and requiredMinRx are what we announce. txInUse and
	// rxInUse are what we go by: a larger transmit interval or a smaller
	// receive interval only takes effect when the peer has acknowledged it,
	// at the end of a Poll Sequence (§6.8.3).
	desiredMinTx, requiredMinRx time.Duration
	txInUse, rxInUse            time.Duration

	poll      bool // a Poll Sequence is under way: P set until an F comes back
	sendFinal bool // a Poll came in: answer with F at once
	sendNow   bool // something the peer should hear about without waiting

	lastRx time.Time // when the detection timer was last reset; zero = not running
	lastTx time.Time
	nextTx time.Time
	rand   func() float64
	grid   time.Time
}

func newSession(p sessionParams) *session {
	s := &session{
		timers:      p.timers,
		state:       Down,
		remoteState: Down,
		localDiscr:  p.localDiscr,
		// §6.8.1: bfd.RemoteMinRxInterval starts at 1 µs, so that we may send
		// before we heard from the peer.
		remoteMinRx:   time.Microsecond,
		desiredMinTx:  max(slowTxInterval, p.timers.MinTx),
		requiredMinRx: p.timers.MinRx,
		rand:          p.rand,
		grid:          p.grid,
		nextTx:        p.now,
	}
	s.txInUse, s.rxInUse = s.desiredMinTx, s.requiredMinRx
	return s
}

// setState moves the session and adjusts what depends on Up: the transmit
// interval is at least 1 s outside Up, the configured one in it (§6.8.3).
func (s *session) setState(to State, diag Diag, now time.Time) Transition {
	tr := Transition{From: s.state, To: to, Diag: diag, RemoteState: s.remoteState, RemoteDiag: s.remoteDiag}
	s.state = to
	if to == Up {
		diag = DiagNone
		tr.Diag = DiagNone
	}
	s.diag = diag
	if to == Up {
		s.setDesiredMinTx(s.timers.MinTx, now)
	} else {
		s.setDesiredMinTx(max(slowTxInterval, s.timers.MinTx), now)
	}
	s.sendNow = true
	return tr
}

// setDesiredMinTx changes the announced transmit interval. In Up the change
// is announced with a Poll Sequence, and a larger interval is used only once
// it completes; a smaller one at once (§6.8.3).
func (s *session) setDesiredMinTx(v time.Duration, now time.Time) {
	if v == s.desiredMinTx {
		return
	}
	old := s.desiredMinTx
	s.desiredMinTx = v
	if s.state == Up {
		s.poll = true
		if v > old {
			return
		}
	}
	s.txInUse = v
	s.reschedule(now)
}

// setRequiredMinRx changes the announced receive interval: a smaller one
// counts for detection only once the peer acknowledged it (§6.8.3).
func (s *session) setRequiredMinRx(v time.Duration) {
	if v == s.requiredMinRx {
		return
	}
	old := s.requiredMinRx
	s.requiredMinRx = v
	if s.state == Up {
		s.poll = true
		if v < old {
			return
		}
	}
	s.rxInUse = v
}

// reconfigure takes new timers on a running session.
func (s *session) reconfigure(t Timers, now time.Time) {
	s.timers = t
	s.setRequiredMinRx(t.MinRx)
	if s.state == Up {
		s.setDesiredMinTx(t.MinTx, now)
	} else {
		s.setDesiredMinTx(max(slowTxInterval, t.MinTx), now)
	}
	s.sendNow = true // the new multiplier, if nothing else
}

// txInterval is the interval between our periodic packets: never faster
// than the peer can take (§6.8.7).
func (s *session) txInterval() time.Duration { return max(s.txInUse, s.remoteMinRx) }

// detectTime is how long the peer may stay silent (§6.8.4, asynchronous
// mode): its multiplier times the larger of what we require and what it
// wants to send at. Zero until we heard from it.
func (s *session) detectTime() time.Duration {
	if s.remoteMult == 0 {
		return 0
	}
	return time.Duration(s.remoteMult) * max(s.rxInUse, s.remoteDesiredMinTx)
}

// receive applies a packet that passed Unmarshal and was matched to this
// session (§6.8.6 from "Set bfd.RemoteDiscr" on).
func (s *session) receive(p Packet, now time.Time) (Transition, bool) {
	oldInterval := s.txInterval()
	s.remoteDiscr = p.MyDiscr
	s.remoteState = p.State
	s.remoteDiag = p.Diag
	s.remoteDemand = p.Demand
	s.remoteMinRx = p.RequiredMinRx
	s.remoteDesiredMinTx = p.DesiredMinTx
	s.remoteMult = p.DetectMult
	if p.Final && s.poll {
		s.poll = false
		s.txInUse, s.rxInUse = s.desiredMinTx, s.requiredMinRx
	}
	if s.txInterval() != oldInterval {
		s.reschedule(now)
	}
	s.lastRx = now
	if p.Poll {
		s.sendFinal = true
		s.sendNow = true
	}
	if s.state == AdminDown {
		return Transition{}, false
	}
	if p.State == AdminDown {
		if s.state != Down {
			return s.setState(Down, DiagNeighborSignaledDown, now), true
		}
		return Transition{}, false
	}
	switch s.state {
	case Down:
		switch p.State {
		case Down:
			return s.setState(Init, DiagNone, now), true
		case Init:
			return s.setState(Up, DiagNone, now), true
		}
	case Init:
		if p.State == Init || p.State == Up {
			return s.setState(Up, DiagNone, now), true
		}
	case Up:
		if p.State == Down {
			return s.setState(Down, DiagNeighborSignaledDown, now), true
		}
	}
	return Transition{}, false
}

// expire runs the detection timer: a peer silent for the detection time
// takes an Init or Up session Down (§6.8.4), and in any state its
// discriminator is forgotten (§6.8.1) so that its next packet is matched by
// address again.
func (s *session) expire(now time.Time) (Transition, bool) {
	d := s.detectTime()
	if d == 0 || s.lastRx.IsZero() || now.Before(s.lastRx.Add(d)) {
		return Transition{}, false
	}
	s.lastRx = time.Time{}
	s.remoteDiscr = 0
	s.remoteMult = 0
	s.remoteState = Down
	s.remoteDemand = false
	s.remoteMinRx = time.Microsecond
	s.poll = false
	s.txInUse, s.rxInUse = s.desiredMinTx, s.requiredMinRx
	if s.state == Init || s.state == Up {
		return s.setState(Down, DiagControlDetectExpired, now), true
	}
	return Transition{}, false
}

// setAdmin takes the session to AdminDown (down=true) or out of it.
func (s *session) setAdmin(down bool, now time.Time) (Transition, bool) {
	switch {
	case down && s.state != AdminDown:
		return s.setState(AdminDown, DiagAdminDown, now), true
	case !down && s.state == AdminDown:
		return s.setState(Down, DiagAdminDown, now), true
	}
	return Transition{}, false
}

// periodic tells whether periodic transmission is allowed: not when the
// peer asked for none (RequiredMinRx 0), and not while the peer runs Demand
// mode on an Up session (§6.8.7).
func (s *session) periodic() bool {
	if s.remoteMinRx == 0 {
		return false
	}
	return !(s.remoteDemand && s.state == Up && s.remoteState == Up)
}

// due tells whether a packet should go out now.
func (s *session) due(now time.Time) bool {
	return s.sendNow || (s.periodic() && !now.Before(s.nextTx))
}

// packet is the packet to send now (§6.8.7). P and F are never both set: a
// Final goes first, the Poll with the next packet.
func (s *session) packet() Packet {
	return Packet{
		Diag:              s.diag,
		State:             s.state,
		Final:             s.sendFinal,
		Poll:              s.poll && !s.sendFinal,
		DetectMult:        s.timers.Multiplier,
		MyDiscr:           s.localDiscr,
		YourDiscr:         s.remoteDiscr,
		DesiredMinTx:      s.desiredMinTx,
		RequiredMinRx:     s.requiredMinRx,
		RequiredMinEchoRx: 0, // no Echo function
	}
}

// sent records that packet() went out at now and schedules the next
// periodic one.
func (s *session) sent(now time.Time) {
	s.sendFinal = false
	s.sendNow = false
	s.lastTx = now
	d := s.txInterval()
	s.nextTx = s.onGrid(now.Add(s.jitter(d)), now.Add(d*3/4), now.Add(s.jitterMax(d)))
}

// txGrid is the step of the grid that a Manager's sessions send their
// periodic packets on. Each session wakes the process on its own otherwise:
// at 300 ms, 100 sessions woke it about 370 times a second to send, and the
// Go scheduler's sleeps and wake-ups between them cost about as much CPU as
// the sends (docs/benchmarks.md). On a common 10 ms grid, one wake-up sends
// every packet due in that step.
const txGrid = 10 * time.Millisecond

// onGrid moves next, the jittered time of the next packet, to the grid
// point just before it, or else just after it, as long as that stays in
// [lo, hi], the range the jitter must keep to (§6.8.7: 75-100 %, 75-90 %
// with a multiplier of 1, both wider than a grid step at 50 ms or more);
// otherwise next stands.
func (s *session) onGrid(next, lo, hi time.Time) time.Time {
	if s.grid.IsZero() {
		return next
	}
	off := next.Sub(s.grid) % txGrid
	if off < 0 {
		off += txGrid
	}
	if down := next.Add(-off); !down.Before(lo) {
		return down
	} else if up := down.Add(txGrid); !up.After(hi) {
		return up
	}
	return next
}

// reschedule moves the next periodic packet after an interval change.
func (s *session) reschedule(now time.Time) {
	if s.lastTx.IsZero() {
		return
	}
	next := s.lastTx.Add(s.jitter(s.txInterval()))
	if next.Before(now) {
		next = now
	}
	s.nextTx = next
}

// jitter shortens an interval by 0-25% at random, or by 10-25% with a
// multiplier of 1 (§6.8.7), so that sessions do not synchronise.
func (s *session) jitter(d time.Duration) time.Duration {
	r := s.rand()
	if s.timers.Multiplier == 1 {
		return time.Duration(float64(d) * (0.75 + 0.15*r))
	}
	return time.Duration(float64(d) * (0.75 + 0.25*r))
}

// jitterMax is the longest interval jitter gives for d.
func (s *session) jitterMax(d time.Duration) time.Duration {
	if s.timers.Multiplier == 1 {
		return d * 9 / 10
	}
	return d
}

// deadline is when the session next needs attention: the next periodic
// packet or the end of the detection time, whichever is first. ok is false
// when nothing is scheduled (no periodic packets, no detection running).
func (s *session) deadline() (next time.Time, ok bool) {
	if s.sendNow {
		return time.Time{}, true
	}
	if s.periodic() {
		next, ok = s.nextTx, true
	}
	if d := s.detectTime(); d > 0 && !s.lastRx.IsZero() {
		if exp := s.lastRx.Add(d); !ok || exp.Before(next) {
			next, ok = exp, true
		}
	}
	return next, ok
}

// PathFailed tells whether the transition says the path to the peer
// failed, which is what a BFD client acts on (RFC 5882 §3.2, §4.3.1): an
// Up session went Down, and not because the peer took BFD AdminDown on
// purpose (a planned stop or a removed session). A session that was never
// Up has failed nothing: the peer may not run BFD at all.
func (t Transition) PathFailed() bool {
	return t.From == Up && t.To == Down && t.RemoteState != AdminDown
}
