package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// pathAttrs are the attributes of a received path the export policy sets.
type pathAttrs struct {
	communities []string
	large       []string
	asPath      []uint32
}

func (a pathAttrs) String() string {
	return fmt.Sprintf("communities %v large %v as-path %v", a.communities, a.large, a.asPath)
}

// receivedAttrs returns the attributes of n's best path to prefix, and
// whether it has one.
func (n *node) receivedAttrs(t *testing.T, prefix string) (pathAttrs, bool) {
	t.Helper()
	var out pathAttrs
	found := false
	fam := familyOf(netip.MustParsePrefix(prefix).Addr())
	req := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam, Prefixes: []*api.TableLookupPrefix{{Prefix: prefix}}}
	err := n.speaker.server.ListPath(testContext(t), req, func(d *api.Destination) {
		for _, p := range d.GetPaths() {
			if !p.GetBest() || !learnedFromPeer(p) {
				continue
			}
			found = true
			for _, a := range p.GetPattrs() {
				m, err := a.UnmarshalNew()
				if err != nil {
					continue
				}
				switch attr := m.(type) {
				case *api.CommunitiesAttribute:
					for _, c := range attr.GetCommunities() {
						out.communities = append(out.communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
					}
				case *api.LargeCommunitiesAttribute:
					for _, c := range attr.GetCommunities() {
						out.large = append(out.large, fmt.Sprintf("%d:%d:%d", c.GetGlobalAdmin(), c.GetLocalData1(), c.GetLocalData2()))
					}
				case *api.AsPathAttribute:
					for _, s := range attr.GetSegments() {
						out.asPath = append(out.asPath, s.GetNumbers()...)
					}
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: listing %s: %v", n.name, prefix, err)
	}
	return out, found
}

// Our prefixes go to upstream peers with the policy's communities and
// prepending, and to node peers unchanged.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestExportToUpstreamAddsCommunitiesAndPrependsOnlyThere(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	n := startNode(t, "node-a", testASN, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	m := startNode(t, "node-b", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	tor := startNode(t, "tor", 65000, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.9", true)
	n.setPeers(t, m.peer, asUpstream(tor.peer))
	m.setPeers(t, n.peer)
	tor.setPeers(t, asUpstream(n.peer))
	tor.setPolicy(t, Policy{AcceptUpstreamRoutes: true})
	pol := Policy{
		ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Communities:      []string{"64512:100", "64512:200"},
		LargeCommunities: []string{"64512:1:1"},
		PrependCount:     2,
	}
	n.setPolicy(t, pol)
	n.advertise(t, testNextHopA, "10.244.1.0/24")

	want := pathAttrs{communities: pol.Communities, large: pol.LargeCommunities, asPath: []uint32{testASN, testASN, testASN}}
	waitFor(t, tor.name+" to receive the prefix with communities and prepending", func() (bool, string) {
		got, ok := tor.receivedAttrs(t, "10.244.1.0/24")
		return ok && got.String() == want.String(), got.String()
	})
	waitFor(t, m.name+" to receive the prefix as it is", func() (bool, string) {
		got, ok := m.receivedAttrs(t, "10.244.1.0/24")
		return ok && got.String() == (pathAttrs{}).String(), got.String()
	})

	// A changed policy is re-applied to what was sent, without a reset.
	n.setPolicy(t, Policy{ClusterCIDRs: pol.ClusterCIDRs})
	waitFor(t, tor.name+" to receive the prefix without communities", func() (bool, string) {
		got, ok := tor.receivedAttrs(t, "10.244.1.0/24")
		return ok && got.String() == (pathAttrs{asPath: []uint32{testASN}}).String(), got.String()
	})
	// Only the current upstream export policy is left in GoBGP.
	names, err := n.speaker.listPolicyNames(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	stale := pol
	stale.normalizeInPlace(t)
	if names[stale.upstreamExportPolicyName()] {
		t.Errorf("the replaced upstream export policy %s is still there: %v", stale.upstreamExportPolicyName(), names)
	}
}

func (pol *Policy) normalizeInPlace(t *testing.T) {
	t.Helper()
	norm, err := pol.normalize()
	if err != nil {
		t.Fatal(err)
	}
	*pol = norm
}

// A route reflector passes one client's prefix on to the other: the export
// policy, which lets nothing learned out, must not stop reflection.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestRouteReflectorReflectsOneClientsPrefixToAnother(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	rr := startNodeConfig(t, "rr", Config{
		ASN: testASN, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddress: netip.MustParseAddr("127.0.0.1"),
		ListenPort: int32(freePort(t, netip.MustParseAddr("127.0.0.1"))), GracefulRestart: true, RestartTime: testRestart,
		ConnectRetry: time.Second, RouteReflectorClusterID: netip.MustParseAddr("10.255.255.1"), Logger: testLogger(t, "rr"),
	})
	a := startNode(t, "client-a", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	b := startNode(t, "client-b", testASN, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	client := func(n *node, own string) Peer {
		return with(n.peer, func(p *Peer) {
			p.RouteReflectorClient = true
			p.AcceptPrefixes = []netip.Prefix{netip.MustParsePrefix(own)}
		})
	}
	rr.setPeers(t, client(a, "10.244.1.0/24"), client(b, "10.244.2.0/24"))
	// A reflector passes on other nodes' prefixes: its clients accept them
	// from it.
	a.setPeers(t, rr.peer)
	b.setPeers(t, rr.peer)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	b.advertise(t, testNextHopB, "10.244.2.0/24")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	waitPath(t, a, path("10.244.2.0/24", testNextHopB), true)
	if paths := b.bestPaths(t); !slices.Equal(paths, []Path{path("10.244.1.0/24", testNextHopA)}) {
		t.Errorf("%s: best paths %v, want only %s's prefix", b.name, paths, a.name)
	}
}
