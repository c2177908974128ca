package bfd

import (
	"testing"
	"time"
)

// FuzzUnmarshal: any datagram decodes or is refused, never panics; what
// decodes survives a round trip; and what decodes also goes through a
// session's receive without breaking its invariants.
func FuzzUnmarshal(f *testing.F) {
	f.Add(Packet{State: Down, DetectMult: 3, MyDiscr: 1, DesiredMinTx: time.Second, RequiredMinRx: time.Second}.Marshal(nil))
	f.Add(Packet{State: Up, Poll: true, DetectMult: 3, MyDiscr: 1, YourDiscr: 2, DesiredMinTx: 300 * time.Millisecond}.Marshal(nil))
	f.Add(Packet{State: Init, Final: true, DetectMult: 255, MyDiscr: 9, YourDiscr: 2}.Marshal(nil))
	f.Add([]byte{0x20, 0x40, 3, 24})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		q, err := Unmarshal(p.Marshal(nil))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", p, err)
		}
		// Intervals travel as whole microseconds and the bits we never set
		// are refused, so the decoded packet is exactly reproduced.
		if q != p {
			t.Fatalf("round trip: %+v became %+v", p, q)
		}
		s := newSession(sessionParams{localDiscr: 2, timers: DefaultTimers, now: epoch, rand: half})
		s.receive(p, epoch)
		if s.state > Up {
			t.Fatalf("state %d after %+v", s.state, p)
		}
		if s.detectTime() < 0 || s.txInterval() <= 0 {
			t.Fatalf("bad timers after %+v: detect %s tx %s", p, s.detectTime(), s.txInterval())
		}
	})
}
