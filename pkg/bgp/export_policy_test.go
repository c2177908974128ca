package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// A (AS 65001) — B (AS 65002) — C (AS 65003), all eBGP, where a plain BGP
// speaker B would pass A's routes on to C. B's export policy must announce
// only B's own prefixes. Then, with B's policy assignment removed, the
// leak does happen: proof that this setup would catch one.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestExportPolicyKeepsLearnedRoutesFromLeakingToOtherPeers(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	a := startNode(t, "node-a", 65001, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	b := startNode(t, "node-b", 65002, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	c := startNode(t, "tor-c", 65003, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	// C is B's ToR; C takes whatever B sends, so that a leak would show.
	a.setPeers(t, b.peer)
	b.setPeers(t, a.peer, asUpstream(c.peer))
	c.setPeers(t, asUpstream(b.peer))
	c.setPolicy(t, Policy{AcceptUpstreamRoutes: true})
	waitEstablished(t, b, a)
	waitEstablished(t, b, c)

	a.advertise(t, testNextHopA, "10.244.1.0/24")
	b.advertise(t, testNextHopB, "10.244.2.0/24")
	fromA := netip.MustParsePrefix("10.244.1.0/24")
	fromB := netip.MustParsePrefix("10.244.2.0/24")
	waitFor(t, b.name+" to learn A's prefix", func() (bool, string) {
		paths := b.bestPaths(t)
		return hasPrefix(paths, fromA), fmt.Sprint(paths)
	})
	// Updates to C flow in order: once B's own prefix arrived, a leaked one
	// would have too. Watch a little longer all the same.
	waitFor(t, c.name+" to learn B's own prefix", func() (bool, string) {
		paths := c.bestPaths(t)
		return hasPrefix(paths, fromB), fmt.Sprint(paths)
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		if paths := c.bestPaths(t); hasPrefix(paths, fromA) {
			t.Fatalf("%s learned %s, which %s only passed on: %v", c.name, fromA, b.name, paths)
		}
	}
	if st, _ := c.peerStatus(t, b); st.Received != 1 {
		t.Errorf("%s received %d prefixes from %s, want 1 (its own)", c.name, st.Received, b.name)
	}

	ctx := testContext(t)
	// Plain GoBGP: no export policy, default accept.
	if err := b.speaker.server.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: globalAssignment, Direction: api.PolicyDirection_EXPORT, DefaultAction: api.RouteAction_ACCEPT,
	}}); err != nil {
		t.Fatalf("removing %s's export policy: %v", b.name, err)
	}
	if err := b.speaker.server.ResetPeer(ctx, &api.ResetPeerRequest{
		Address: c.peer.Address.String(), Soft: true, Direction: api.ResetPeerRequest_OUT,
	}); err != nil {
		t.Fatalf("re-sending %s's routes to %s: %v", b.name, c.name, err)
	}
	waitFor(t, c.name+" to learn A's prefix once B has no export policy", func() (bool, string) {
		paths := c.bestPaths(t)
		return hasPrefix(paths, fromA), fmt.Sprint(paths)
	})
}

func hasPrefix(paths []Path, p netip.Prefix) bool {
	return slices.ContainsFunc(paths, func(x Path) bool { return x.Prefix == p })
}

func asUpstream(p Peer) Peer {
	p.Kind, p.AcceptPrefixes = PeerUpstream, nil
	return p
}
