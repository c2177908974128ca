package bfd

import (
	"fmt"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func half() float64 { return 0.5 }

// peerPkt is a packet of the peer (discriminator 100) to our session
// (discriminator 1) with the default timers.
func peerPkt(st State, mod ...func(*Packet)) Packet {
	p := Packet{State: st, DetectMult: 3, MyDiscr: 100, YourDiscr: 1,
		DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond}
	if st == Down || st == AdminDown {
		p.DesiredMinTx = time.Second
	}
	for _, m := range mod {
		m(&p)
	}
	return p
}

// step is one event at a time offset from epoch, then what must hold.
type step struct {
	at    time.Duration
	rx    *Packet // a packet arrives
	admin *bool   // the operator sets AdminDown (true) or lifts it
	tick  bool    // the detection timer is checked

	state      State
	diag       Diag
	transition bool // this step changed the state
	check      func(t *testing.T, s *session)
}

func rx(p Packet) *Packet { return &p }
func ptr(b bool) *bool    { return &b }

func TestSessionStateMachine(t *testing.T) {
	up := []step{
		{at: 0, rx: rx(peerPkt(Down, func(p *Packet) { p.YourDiscr = 0 })), state: Init, transition: true},
		{at: 10 * time.Millisecond, rx: rx(peerPkt(Up)), state: Up, transition: true},
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"three-way handshake", append(up, step{
			at: 20 * time.Millisecond, state: Up,
			check: func(t *testing.T, s *session) {
				// Up: the configured 300 ms is announced with a Poll and used
				// at once (a decrease needs no acknowledgement).
				if !s.poll || s.desiredMinTx != 300*time.Millisecond || s.txInterval() != 300*time.Millisecond {
					t.Errorf("after Up: poll %v desired %s interval %s", s.poll, s.desiredMinTx, s.txInterval())
				}
				if p := s.packet(); !p.Poll || p.YourDiscr != 100 || p.State != Up {
					t.Errorf("packet after Up: %+v", p)
				}
			},
		}, step{
			at: 30 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.Final = true })), state: Up,
			check: func(t *testing.T, s *session) {
				if s.poll || s.packet().Poll {
					t.Error("the Final did not end the Poll Sequence")
				}
			},
		})},
		{"Init from the peer goes straight to Up", []step{
			{rx: rx(peerPkt(Init)), state: Up, transition: true},
		}},
		{"Up from the peer while Down is ignored", []step{
			{rx: rx(peerPkt(Up)), state: Down},
		}},
		{"silent peer: down after 3 x 300 ms, not before", append(up,
			step{at: 10*time.Millisecond + 899*time.Millisecond, tick: true, state: Up},
			step{at: 10*time.Millisecond + 900*time.Millisecond, tick: true, state: Down, diag: DiagControlDetectExpired, transition: true,
				check: func(t *testing.T, s *session) {
					if s.remoteDiscr != 0 || s.txInterval() != time.Second {
						t.Errorf("after the timeout: remote discriminator %d, interval %s", s.remoteDiscr, s.txInterval())
					}
					if s.packet().Diag != DiagControlDetectExpired {
						t.Errorf("packet diag %s", s.packet().Diag)
					}
				}},
		)},
		{"detection uses the peer's slower TX and multiplier", []step{
			{rx: rx(peerPkt(Init, func(p *Packet) { p.DesiredMinTx = time.Second; p.DetectMult = 5 })), state: Up, transition: true,
				check: func(t *testing.T, s *session) {
					if got := s.detectTime(); got != 5*time.Second {
						t.Errorf("detect time %s, want 5s", got)
					}
				}},
			{at: 4999 * time.Millisecond, tick: true, state: Up},
			{at: 5 * time.Second, tick: true, state: Down, diag: DiagControlDetectExpired, transition: true},
		}},
		{"detection uses our slower RX", []step{
			{rx: rx(peerPkt(Init, func(p *Packet) { p.DesiredMinTx = 100 * time.Millisecond })), state: Up, transition: true,
				check: func(t *testing.T, s *session) {
					if got := s.detectTime(); got != 900*time.Millisecond {
						t.Errorf("detect time %s, want 900ms", got)
					}
				}},
		}},
		{"peer signals Down", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(Down)), state: Down, diag: DiagNeighborSignaledDown, transition: true})},
		{"peer signals AdminDown", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(AdminDown, func(p *Packet) { p.Diag = DiagAdminDown })),
				state: Down, diag: DiagNeighborSignaledDown, transition: true,
				check: func(t *testing.T, s *session) {
					if s.remoteDiag != DiagAdminDown {
						t.Errorf("remote diag %s", s.remoteDiag)
					}
				}},
			// and while it stays AdminDown we stay Down, not Init
			step{at: 30 * time.Millisecond, rx: rx(peerPkt(AdminDown)), state: Down, diag: DiagNeighborSignaledDown})},
		{"our AdminDown ignores packets and says why", append(up,
			step{at: 20 * time.Millisecond, admin: ptr(true), state: AdminDown, diag: DiagAdminDown, transition: true,
				check: func(t *testing.T, s *session) {
					if p := s.packet(); p.State != AdminDown || p.Diag != DiagAdminDown {
						t.Errorf("packet %+v", p)
					}
				}},
			step{at: 30 * time.Millisecond, rx: rx(peerPkt(Down)), state: AdminDown, diag: DiagAdminDown},
			step{at: 40 * time.Millisecond, admin: ptr(false), state: Down, diag: DiagAdminDown, transition: true},
			step{at: 50 * time.Millisecond, rx: rx(peerPkt(Down)), state: Init, transition: true},
		)},
		{"a Poll is answered with a Final, never both bits", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.Poll = true })), state: Up,
				check: func(t *testing.T, s *session) {
					if !s.due(epoch.Add(20 * time.Millisecond)) {
						t.Error("Final not due at once")
					}
					p := s.packet()
					if !p.Final || p.Poll {
						t.Errorf("answer %+v: want F without P", p)
					}
					s.sent(epoch.Add(20 * time.Millisecond))
					if p := s.packet(); p.Final || !p.Poll {
						t.Errorf("next packet %+v: want our own Poll, no F", p)
					}
				}})},
		{"never faster than the peer takes", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.RequiredMinRx = 2 * time.Second })), state: Up,
				check: func(t *testing.T, s *session) {
					if s.txInterval() != 2*time.Second {
						t.Errorf("interval %s, want 2s", s.txInterval())
					}
				}})},
		{"a peer that wants no packets gets none", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.RequiredMinRx = 0 })), state: Up,
				check: func(t *testing.T, s *session) {
					s.sent(epoch.Add(20 * time.Millisecond))
					if s.due(epoch.Add(time.Hour)) {
						t.Error("periodic packet due although the peer's RequiredMinRx is 0")
					}
				}})},
		{"a larger TX interval waits for the Final", append(up,
			step{at: 20 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.Final = true })), state: Up,
				check: func(t *testing.T, s *session) {
					s.reconfigure(Timers{MinTx: 600 * time.Millisecond, MinRx: 100 * time.Millisecond, Multiplier: 3}, epoch.Add(20*time.Millisecond))
					if s.txInterval() != 300*time.Millisecond || s.rxInUse != 300*time.Millisecond || !s.poll {
						t.Errorf("before the Final: interval %s rx %s poll %v", s.txInterval(), s.rxInUse, s.poll)
					}
					if p := s.packet(); p.DesiredMinTx != 600*time.Millisecond || p.RequiredMinRx != 100*time.Millisecond {
						t.Errorf("announced %+v", p)
					}
				}},
			step{at: 30 * time.Millisecond, rx: rx(peerPkt(Up, func(p *Packet) { p.Final = true; p.DesiredMinTx = 100 * time.Millisecond })), state: Up,
				check: func(t *testing.T, s *session) {
					if s.txInterval() != 600*time.Millisecond || s.detectTime() != 300*time.Millisecond {
						t.Errorf("after the Final: interval %s detect %s", s.txInterval(), s.detectTime())
					}
				}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(sessionParams{localDiscr: 1, timers: DefaultTimers, now: epoch, rand: half})
			for i, st := range tc.steps {
				now := epoch.Add(st.at)
				var changed bool
				switch {
				case st.rx != nil:
					_, changed = s.receive(*st.rx, now)
				case st.admin != nil:
					_, changed = s.setAdmin(*st.admin, now)
				case st.tick:
					_, changed = s.expire(now)
				}
				if s.state != st.state || s.diag != st.diag || changed != st.transition {
					t.Fatalf("step %d: state %s diag %q changed %v, want %s %q %v", i, s.state, s.diag, changed, st.state, st.diag, st.transition)
				}
				if st.check != nil {
					st.check(t, s)
				}
			}
		})
	}
}

// TestSessionTransmitSchedule: 1 s while not Up, jittered to 75-100 % (75-90
// % with a multiplier of 1); the configured interval once Up.
func TestSessionTransmitSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		mult uint8
		r    float64
		up   bool
		want time.Duration
	}{
		{"not up, least jitter", 3, 0.999999, false, 999999 * time.Microsecond},
		{"not up, most jitter", 3, 0, false, 750 * time.Millisecond},
		{"up, most jitter", 3, 0, true, 225 * time.Millisecond},
		{"up, least jitter", 3, 0.999999, true, 299999700 * time.Nanosecond},
		{"multiplier 1, least jitter", 1, 0.999999, true, 269999955 * time.Nanosecond},
		{"multiplier 1, most jitter", 1, 0, true, 225 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			timers := DefaultTimers
			timers.Multiplier = tc.mult
			s := newSession(sessionParams{localDiscr: 1, timers: timers, now: epoch, rand: func() float64 { return tc.r }})
			if !s.due(epoch) {
				t.Fatal("first packet not due at start")
			}
			if tc.up {
				s.receive(peerPkt(Init), epoch)
			}
			s.sent(epoch)
			next, ok := s.deadline()
			if !ok {
				t.Fatal("nothing scheduled")
			}
			if got := s.nextTx.Sub(epoch); got < tc.want-time.Microsecond || got > tc.want+time.Microsecond {
				t.Fatalf("next packet after %s, want %s", got, tc.want)
			}
			if next.After(s.nextTx) {
				t.Fatalf("deadline %s after the next packet %s", next, s.nextTx)
			}
			if s.due(s.nextTx.Add(-time.Nanosecond)) || !s.due(s.nextTx) {
				t.Fatal("due before its time, or not at it")
			}
		})
	}
}

func TestPathFailed(t *testing.T) {
	for _, tc := range []struct {
		tr   Transition
		want bool
	}{
		{Transition{From: Up, To: Down, Diag: DiagControlDetectExpired, RemoteState: Down}, true},
		{Transition{From: Up, To: Down, Diag: DiagNeighborSignaledDown, RemoteState: Down}, true},
		{Transition{From: Up, To: Down, Diag: DiagNeighborSignaledDown, RemoteState: AdminDown, RemoteDiag: DiagAdminDown}, false},
		{Transition{From: Init, To: Down, Diag: DiagControlDetectExpired, RemoteState: Down}, false},
		{Transition{From: Down, To: Init, RemoteState: Down}, false},
		{Transition{From: Up, To: AdminDown, Diag: DiagAdminDown, RemoteState: Up}, false},
	} {
		if got := tc.tr.PathFailed(); got != tc.want {
			t.Errorf("%+v: PathFailed = %v, want %v", tc.tr, got, tc.want)
		}
	}
}

// TestSessionSendsOnTheGridWithinTheJitterRange: with a grid, every
// periodic packet goes out on a txGrid step from the grid's origin, and
// still 75-100 % (75-90 % with a multiplier of 1) of the interval after the
// last one, whatever the jitter and wherever the last packet was.
func TestSessionSendsOnTheGridWithinTheJitterRange(t *testing.T) {
	for _, mult := range []uint8{3, 1} {
		for _, up := range []bool{false, true} {
			for _, r := range []float64{0, 0.013, 0.5, 0.9, 0.999999} {
				for _, lastOff := range []time.Duration{0, 3 * time.Millisecond, 9999 * time.Microsecond} {
					t.Run(fmt.Sprintf("mult %d up %v r %v last +%s", mult, up, r, lastOff), func(t *testing.T) {
						timers := DefaultTimers
						timers.Multiplier = mult
						s := newSession(sessionParams{localDiscr: 1, timers: timers, now: epoch, rand: func() float64 { return r }, grid: epoch})
						if up {
							s.receive(peerPkt(Init), epoch)
						}
						last := epoch.Add(time.Hour + lastOff)
						s.sent(last)
						d := s.txInterval()
						lo, hi := d*3/4, d
						if mult == 1 {
							hi = d * 9 / 10
						}
						if got := s.nextTx.Sub(last); got < lo || got > hi {
							t.Errorf("next packet %s after the last, want %s..%s", got, lo, hi)
						}
						if off := s.nextTx.Sub(epoch) % txGrid; off != 0 {
							t.Errorf("next packet %s off the grid", off)
						}
					})
				}
			}
		}
	}
}
