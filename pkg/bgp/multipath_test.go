package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// Two ToRs announce the default route equally well: BestPaths gives both
// next hops (multipath), and one again when a ToR withdraws it.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestBestPathsListsEveryNextHopOfAnEqualCostPrefix(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	n := startNode(t, "node-a", testASN, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	tor1 := startNode(t, "tor-1", 65001, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	tor2 := startNode(t, "tor-2", 65002, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	n.setPeers(t, asUpstream(tor1.peer), asUpstream(tor2.peer))
	tor1.setPeers(t, asUpstream(n.peer))
	tor2.setPeers(t, asUpstream(n.peer))
	n.setPolicy(t, Policy{AcceptUpstreamRoutes: true})
	tor1.advertise(t, testNextHopA, "0.0.0.0/0")
	tor2.advertise(t, testNextHopB, "0.0.0.0/0")
	both := []Path{path("0.0.0.0/0", testNextHopA), path("0.0.0.0/0", testNextHopB)}
	waitFor(t, n.name+" to have both next hops of the default route", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, both), fmt.Sprint(paths)
	})
	tor2.advertise(t, testNextHopB)
	waitFor(t, n.name+" to have one next hop left", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, both[:1]), fmt.Sprint(paths)
	})
}
