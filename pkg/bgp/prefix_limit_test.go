package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A ToR that leaks a full table: an upstream router sends 200,000 routes,
// one per UPDATE, to a node whose session with it has the default prefix
// limit. The session is shut down and stays down with none of the routes
// kept, and the node's other session carries on: its pod CIDR is still
// advertised to the other node and the other node's route is still its best
// path, and that session never went down.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestAFullTableLeakTripsTheDefaultUpstreamLimitAndTheNodeKeepsRouting(t *testing.T) {
	if !inPrivateNetnsFor(t, 4*time.Minute) {
		return
	}
	const routes = 200000
	n := startNode(t, "node", testASN, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	m := startNode(t, "other-node", testASN, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	pol := Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, AcceptUpstreamRoutes: true}
	n.setPolicy(t, pol)
	m.setPolicy(t, pol)
	tor := Peer{Name: "tor", Address: netip.MustParseAddr("127.0.0.2"), ASN: 65000, Passive: true, Kind: PeerUpstream, MaxPrefixes: DefaultUpstreamMaxPrefixes}
	n.setPeers(t, m.peer, tor)
	m.setPeers(t, with(n.peer, func(p *Peer) { p.Passive = true }))
	n.advertise(t, testNextHopA, "10.244.1.0/24")
	m.advertise(t, testNextHopB, "10.244.2.0/24")
	ours, theirs := path("10.244.1.0/24", testNextHopA), path("10.244.2.0/24", testNextHopB)
	waitPath(t, m, ours, true)
	waitPath(t, n, theirs, true)
	before, _ := sessionOf(t, n, m)

	r := startFloodingRouter(t, n, tor, routes, true)
	r.await(t, "established", time.Minute)
	out := awaitFlood(t, n, r, routes, time.Now(), 3*time.Minute)
	t.Logf("flood of %d routes with the default limit %d: %+v; peak RSS of this process (both speakers) %d MiB",
		routes, DefaultUpstreamMaxPrefixes, out, procStatusKiB(t, "VmHWM")>>10)
	if !out.Tripped || !out.Settled {
		t.Fatalf("the default prefix limit %d did not end the flood of %d routes: %+v", DefaultUpstreamMaxPrefixes, routes, out)
	}
	if st, _ := n.peerStatus(t, &node{peer: tor}); !strings.Contains(st.LastError, "prefix limit") {
		t.Errorf("the session with the ToR ended, but its last error does not name the prefix limit: %+v", st)
	}

	// The count stopped: the session stays down with nothing kept, and
	// nothing of the flood is a best path.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		st, _ := n.peerStatus(t, &node{peer: tor})
		if !st.PrefixLimited || st.State == StateEstablished || st.Received != 0 || st.MaxPrefixes != DefaultUpstreamMaxPrefixes {
			t.Fatalf("after the trip the session with the ToR is %+v; want held down by its limit %d with no routes", st, DefaultUpstreamMaxPrefixes)
		}
	}
	best := n.bestPaths(t)
	flood := netip.MustParsePrefix("20.0.0.0/6")
	for _, p := range best {
		if flood.Overlaps(p.Prefix) {
			t.Fatalf("%s kept a flooded route as a best path after the trip: %v", n.name, p)
		}
	}
	waitPath(t, n, theirs, true)
	waitPath(t, m, ours, true)
	after, _ := sessionOf(t, n, m)
	if after.State != StateEstablished || after.SessionsDown != before.SessionsDown {
		t.Errorf("%s's session with %s went down during the flood: before %+v, after %+v", n.name, m.name, before, after)
	}
}
