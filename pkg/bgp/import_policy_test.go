package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// stays fails the test if cond stops holding within d.
func stays(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(pollInterval) {
		if ok, state := cond(); !ok {
			t.Fatalf("%s no longer holds: %s", what, state)
		}
	}
}

func lacksPrefix(n *node, t *testing.T, p string) func() (bool, string) {
	return func() (bool, string) {
		paths := n.bestPaths(t)
		return !hasPrefix(paths, netip.MustParsePrefix(p)), fmt.Sprint(paths)
	}
}

// A node announcing another node's pod CIDR must not take its traffic:
// from a node peer only its own pod CIDRs (AcceptPrefixes) are taken, and
// changing them re-filters without resetting the session.
func TestImportTakesFromANodeOnlyItsOwnPodCIDRs(t *testing.T) {
	a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	b := startNode(t, "node-b", testASN, loopback, 0, "10.255.0.2", true)
	ownA := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}
	a.setPeers(t, b.peer)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.AcceptPrefixes = ownA }))
	waitEstablished(t, b, a)
	opens := b.received(t, a).GetOpen()

	// a's own, b's (a hijack) and a more specific of a's own.
	a.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.2.0/24", "10.244.1.128/25")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	stays(t, time.Second, b.name+" not taking the hijacked prefix", lacksPrefix(b, t, "10.244.2.0/24"))
	if paths := b.bestPaths(t); len(paths) != 1 {
		t.Fatalf("%s took %v from %s, want only 10.244.1.0/24", b.name, paths, a.name)
	}
	st, _ := b.peerStatus(t, a)
	if st.Received != 3 {
		t.Errorf("%s: status of %s = %+v, want 3 received", b.name, a.name, st)
	}

	// The Kubernetes API gives a another CIDR: taken at once, no reset.
	moreA := append(slices.Clone(ownA), netip.MustParsePrefix("10.244.2.0/24"))
	b.setPeers(t, with(a.peer, func(p *Peer) { p.AcceptPrefixes = moreA }))
	waitPath(t, b, path("10.244.2.0/24", testNextHopA), true)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.AcceptPrefixes = ownA }))
	waitPath(t, b, path("10.244.2.0/24", testNextHopA), false)
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	if st, _ := b.peerStatus(t, a); st.State != StateEstablished || b.received(t, a).GetOpen() != opens {
		t.Errorf("%s: changing AcceptPrefixes reset the session with %s: %+v", b.name, a.name, st)
	}
}

// From upstream: nothing before a Policy; then never a route into the
// cluster's pod networks (a more specific neither), other routes only
// when AcceptUpstreamRoutes says so.
func TestImportFromUpstreamFollowsThePolicy(t *testing.T) {
	n := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	tor := startNode(t, "tor", 65000, loopback, 0, "10.255.0.9", true)
	n.setPeers(t, asUpstream(tor.peer))
	tor.setPeers(t, asUpstream(n.peer))
	waitEstablished(t, n, tor)
	tor.advertise(t, testNextHopB, "0.0.0.0/0", "198.51.100.0/24", "10.244.1.0/24", "10.244.1.128/25", "10.96.0.0/12")
	waitFor(t, n.name+" to receive the ToR's routes", func() (bool, string) {
		st, _ := n.peerStatus(t, tor)
		return st.Received == 5, fmt.Sprintf("%+v", st)
	})
	stays(t, time.Second, n.name+" taking nothing before a Policy", func() (bool, string) {
		paths := n.bestPaths(t)
		return len(paths) == 0, fmt.Sprint(paths)
	})

	pol := Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, AcceptUpstreamRoutes: true}
	n.setPolicy(t, pol)
	want := []Path{path("0.0.0.0/0", testNextHopB), path("10.96.0.0/12", testNextHopB), path("198.51.100.0/24", testNextHopB)}
	waitFor(t, n.name+" to take the ToR's routes outside the cluster CIDR", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, want), fmt.Sprint(paths)
	})
	stays(t, time.Second, n.name+" not taking routes into the cluster CIDR", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, want), fmt.Sprint(paths)
	})

	pol.AcceptUpstreamRoutes = false
	n.setPolicy(t, pol)
	waitFor(t, n.name+" to drop the ToR's routes", func() (bool, string) {
		paths := n.bestPaths(t)
		return len(paths) == 0, fmt.Sprint(paths)
	})
}

// ToR-only designs: another node's exact pod CIDR may come from upstream
// once the policy names it, but never a more-specific of it, nor the whole
// cluster CIDR, nor a pod CIDR the policy does not name.
func TestImportFromUpstreamTakesExactlyTheNamedPodCIDRs(t *testing.T) {
	n := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	tor := startNode(t, "tor", 65000, loopback, 0, "10.255.0.9", true)
	n.setPeers(t, asUpstream(tor.peer))
	tor.setPeers(t, asUpstream(n.peer))
	waitEstablished(t, n, tor)
	tor.advertise(t, testNextHopB, "10.244.2.0/24", "10.244.2.0/25", "10.244.3.0/24", "10.244.0.0/16")
	waitFor(t, n.name+" to receive the ToR's routes", func() (bool, string) {
		st, _ := n.peerStatus(t, tor)
		return st.Received == 4, fmt.Sprintf("%+v", st)
	})
	pol := Policy{
		ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		UpstreamPodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.2.0/24")},
	}
	n.setPolicy(t, pol)
	want := []Path{path("10.244.2.0/24", testNextHopB)}
	waitFor(t, n.name+" to take the named pod CIDR", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, want), fmt.Sprint(paths)
	})
	stays(t, time.Second, n.name+" taking nothing else inside the cluster CIDR", func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Equal(paths, want), fmt.Sprint(paths)
	})
}

// A reflector client hears every other node's pod CIDRs from each of its
// route reflectors. One prefix set of them serves every reflector (no
// per-reflector copy of the cluster's pod CIDRs in GoBGP), a prefix no node
// owns is still refused, and a node joining is taken at once from what a
// reflector already sent.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestImportTakesTheReflectedPodCIDRsFromEveryReflectorThroughOneSet(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	c := startNode(t, "client", testASN, loopback, 0, "10.255.0.1", true)
	r1 := startNode(t, "rr-1", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	r2 := startNode(t, "rr-2", testASN, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	reflector := func(n *node) Peer {
		return with(n.peer, func(p *Peer) { p.AcceptPrefixes, p.AcceptReflected = nil, true })
	}
	pol := Policy{ReflectedPodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("10.244.2.0/24")}}
	c.desired.Policy = pol
	c.setPeers(t, reflector(r1), reflector(r2))
	r1.setPeers(t, c.peer)
	r2.setPeers(t, c.peer)
	waitEstablished(t, c, r1)
	waitEstablished(t, c, r2)

	// Node 1's and node 3's pod CIDRs (node 3 not in the policy yet) and a
	// more-specific of node 1's from one reflector, node 2's from the other.
	r1.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.3.0/24", "10.244.1.128/25")
	r2.advertise(t, testNextHopB, "10.244.2.0/24")
	waitPath(t, c, path("10.244.1.0/24", testNextHopA), true)
	waitPath(t, c, path("10.244.2.0/24", testNextHopB), true)
	stays(t, time.Second, c.name+" taking only the reflected pod CIDRs", func() (bool, string) {
		paths := c.bestPaths(t)
		return len(paths) == 2, fmt.Sprint(paths)
	})

	sets, err := c.speaker.listPrefixSets(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sets[reflectedPodSetV4]); got != 2 {
		t.Errorf("%s has %d members, want the 2 reflected pod CIDRs", reflectedPodSetV4, got)
	}
	for name := range sets {
		if strings.HasPrefix(name, nodeSetPrefix) {
			t.Errorf("prefix set %s: a reflector's routes need no set of their own", name)
		}
	}

	pol.ReflectedPodCIDRs = append(pol.ReflectedPodCIDRs, netip.MustParsePrefix("10.244.3.0/24"))
	c.setPolicy(t, pol)
	waitPath(t, c, path("10.244.3.0/24", testNextHopA), true)
	stays(t, time.Second, c.name+" still refusing the more-specific", lacksPrefix(c, t, "10.244.1.128/25"))
}
