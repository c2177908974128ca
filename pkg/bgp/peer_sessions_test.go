package bgp

import (
	"fmt"
	"testing"
	"time"
)

func sessionOf(t *testing.T, n, of *node) (PeerStatus, bool) {
	t.Helper()
	peers, err := n.speaker.Sessions(testContext(t), true)
	if err != nil {
		t.Fatalf("%s: Sessions: %v", n.name, err)
	}
	for _, p := range peers {
		if p.Address == of.peer.Address {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// Sessions reports what an operator reads: prefixes advertised, since when,
// UPDATE counters and session transitions, counted from GoBGP itself.
func TestSessionsCountAdvertisedUpdatesAndTransitions(t *testing.T) {
	began := time.Now().Add(-time.Second)
	a, b := startIBGPPair(t, false)
	a.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.3.0/24")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	waitPath(t, b, path("10.244.3.0/24", testNextHopA), true)

	var st PeerStatus
	waitFor(t, "a's session with b to show 2 prefixes advertised", func() (bool, string) {
		st, _ = sessionOf(t, a, b)
		return st.Advertised == 2 && st.UpdatesSent > 0, fmt.Sprintf("%+v", st)
	})
	if st.SessionsUp != 1 || st.SessionsDown != 0 {
		t.Errorf("a's session with b: up %d, down %d; want 1, 0", st.SessionsUp, st.SessionsDown)
	}
	if st.Since.Before(began) || st.Since.After(time.Now()) {
		t.Errorf("a's session with b: since %s, want after %s", st.Since, began)
	}
	waitFor(t, "b to count the UPDATEs and prefixes from a", func() (bool, string) {
		bs, _ := sessionOf(t, b, a)
		return bs.UpdatesReceived > 0 && bs.Received == 2 && bs.Advertised == 0, fmt.Sprintf("%+v", bs)
	})

	// b ends: a counts the session going down and its state's new time.
	b.speaker.Stop()
	waitFor(t, "a to count the session with b down", func() (bool, string) {
		st, _ = sessionOf(t, a, b)
		return st.SessionsDown == 1 && st.State != StateEstablished, fmt.Sprintf("%+v", st)
	})
	if st.Since.IsZero() {
		t.Error("a's session with b is down but has no time since")
	}
}
