package bgp

import (
	"testing"
	"time"
)

// Two speakers passive towards each other never connect on their own:
// neither dials. One that adds its neighbor with FirstAttemptAtOnce makes
// one connection attempt, and the session comes up: the attempt a joining
// node makes towards peers of lower IP, which wait for it passively
// (third_party/gobgp-patches/004).
func TestAPassivePeerAddedWithFirstAttemptAtOnceConnects(t *testing.T) {
	a := startNode(t, "a", testASN, loopback, 0, "10.0.0.1", false)
	b := startNode(t, "b", testASN, loopback, 0, "10.0.0.2", false)
	b.setPeers(t, withPassive(a.peer))
	a.setPeers(t, withPassive(b.peer))
	// GoBGP's first dial would come 1-2 s after the neighbor was added:
	// 3 s show that neither side makes one.
	time.Sleep(3 * time.Second)
	if st, ok := a.peerStatus(t, b); !ok || st.State == StateEstablished {
		t.Fatalf("two passive neighbors: a's session with b is %+v (configured %v); want it waiting", st, ok)
	}

	a.setPeers(t)
	a.desired.FirstAttemptAtOnce = true
	a.setPeers(t, withPassive(b.peer))
	waitEstablished(t, a, b)
	waitEstablished(t, b, a)
}
