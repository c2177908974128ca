package bgp

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// applyNode is a speaker that listens nowhere (ListenPort -1) and is a
// route reflector, for tests of what Apply calls in GoBGP. Its peers are
// passive, so nothing is dialled.
func applyNode(t *testing.T) *node {
	t.Helper()
	return startNodeConfig(t, "node-a", Config{
		ASN: testASN, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddress: loopback, ListenPort: -1,
		GracefulRestart: true, RestartTime: testRestart, ConnectRetry: time.Second,
		RouteReflectorClusterID: netip.MustParseAddr("10.255.255.1"), Logger: testLogger(t, "node-a"),
	})
}

func passivePeer(name, addr string, asn uint32, accept ...string) Peer {
	p := Peer{Name: name, Address: netip.MustParseAddr(addr), ASN: asn, Passive: true}
	for _, a := range accept {
		p.AcceptPrefixes = append(p.AcceptPrefixes, netip.MustParsePrefix(a))
	}
	return p
}

// fullDesired has something of everything: a policy with every field, node
// peers (one a route-reflector client), an upstream peer, IPv4 and IPv6
// paths.
func fullDesired() Desired {
	n2 := passivePeer("n2", "10.199.1.12", testASN, "10.244.2.0/24")
	n2.RouteReflectorClient = true
	n3 := passivePeer("n3", "fd00:199:1::13", testASN, "fd00:244:3::/64")
	n3.HoldTime, n3.KeepaliveTime, n3.MaxPrefixes, n3.Password = 9*time.Second, 3*time.Second, 10, "s3cret"
	tor := passivePeer("tor", "10.199.1.1", 65000)
	tor.Kind, tor.MultihopTTL = PeerUpstream, 2
	return Desired{
		Policy: Policy{
			ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:244::/48")},
			UpstreamPodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.9.0/24")},
			Communities:      []string{"64512:100"}, LargeCommunities: []string{"64512:1:1"}, PrependCount: 2,
		},
		Peers:      []Peer{n2, n3, tor},
		Advertised: []Path{path("10.244.1.0/24", testNextHopA), path("fd00:244:1::/64", "fd00:199:1::11")},
	}
}

// A second Apply with the same Desired changes nothing in GoBGP, and each
// pass lists the policy objects, the peers and the paths once.
func TestApplyTwiceChangesNothingTheSecondTimeAndListsOnce(t *testing.T) {
	n := applyNode(t)
	n.desired = fullDesired()
	n.apply(t) // fails on any changing call in the second pass
	if err := n.speaker.Apply(testContext(t), n.desired).Err(); err != nil {
		t.Fatal(err)
	}
	if calls := n.calls.reset(); len(calls) > 0 {
		t.Fatalf("a third Apply changed GoBGP: %q", calls)
	}
	if err := n.speaker.Apply(testContext(t), n.desired).Err(); err != nil {
		t.Fatal(err)
	}
	reads := n.calls.readCalls()
	slices.Sort(reads)
	want := []string{
		"ListDefinedSet NEIGHBOR ", "ListDefinedSet PREFIX ",
		// The RIB is walked in place for the local paths, once.
		"ListLocalPaths",
		"ListPeer ",
		"ListPolicy ",
		"ListPolicyAssignment EXPORT", "ListPolicyAssignment IMPORT",
	}
	if !slices.Equal(reads, want) {
		t.Errorf("one pass read\n%q\nwant\n%q", reads, want)
	}
}

// Within one pass: a new node peer's import filter and a new prefix's
// own-prefix set entry come before the peer and the path; peers before
// paths; a withdrawn prefix leaves its set only after its path is gone.
func TestApplyOrdersPolicyPeersAndPaths(t *testing.T) {
	n := applyNode(t)
	n2 := passivePeer("n2", "10.199.1.12", testASN, "10.244.2.0/24")
	n.desired = Desired{
		Policy:     Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}},
		Peers:      []Peer{n2},
		Advertised: []Path{path("10.244.1.0/24", testNextHopA)},
	}
	n.apply(t)

	n3 := passivePeer("n3", "10.199.1.13", testASN, "10.244.3.0/24")
	n.desired.Peers = []Peer{n2, n3}
	n.desired.Advertised = []Path{path("10.244.11.0/24", testNextHopA)}
	if err := n.speaker.Apply(testContext(t), n.desired).Err(); err != nil {
		t.Fatal(err)
	}
	calls := n.calls.reset()
	at := func(prefix string) int {
		t.Helper()
		i := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
		if i < 0 {
			t.Fatalf("no call %q in %q", prefix, calls)
		}
		return i
	}
	before := func(a, b string) {
		t.Helper()
		if at(a) > at(b) {
			t.Errorf("%q came after %q: %q", a, b, calls)
		}
	}
	before("AddDefinedSet nodebgp-node-10.199.1.13-v4 10.244.3.0/24", "AddPeer 10.199.1.13")
	before("AddPolicy nodebgp-import-node-10.199.1.13", "AddPeer 10.199.1.13")
	before("SetPolicyAssignment IMPORT", "AddPeer 10.199.1.13")
	before("AddDefinedSet nodebgp-own-v4 10.244.11.0/24", "AddPath 10.244.11.0/24")
	before("AddPeer 10.199.1.13", "AddPath 10.244.11.0/24")
	before("DeletePath 10.244.1.0/24", "DeleteDefinedSet nodebgp-own-v4 10.244.1.0/24")
}

// A policy step that fails in GoBGP holds back new peers and leaves the
// advertisement as it was; removals still apply, and the next pass does
// the rest.
func TestApplyAfterAFailedPolicyStepAddsNoPeerAndKeepsTheAdvertisement(t *testing.T) {
	n := applyNode(t)
	n2 := passivePeer("n2", "10.199.1.12", testASN, "10.244.2.0/24")
	gone := passivePeer("n4", "10.199.1.14", testASN, "10.244.4.0/24")
	n.desired = Desired{Peers: []Peer{n2, gone}, Advertised: []Path{path("10.244.1.0/24", testNextHopA)}}
	n.apply(t)

	n3 := passivePeer("n3", "10.199.1.13", testASN, "10.244.3.0/24")
	n.desired.Peers = []Peer{n2, n3}
	n.desired.Advertised = []Path{path("10.244.11.0/24", testNextHopA)}
	broken := errors.New("policy store broken")
	n.calls.fail = func(call string) error {
		if strings.HasPrefix(call, "AddPolicy nodebgp-import-node-10.199.1.13") {
			return broken
		}
		return nil
	}
	res := n.speaker.Apply(testContext(t), n.desired)
	calls := n.calls.reset()
	if !errors.Is(res.Policy, broken) || !strings.Contains(res.Policy.Error(), "not adding peers n3 (10.199.1.13)") ||
		!strings.Contains(res.Policy.Error(), "advertisement left as it was") {
		t.Errorf("policy error = %v, want the failure and what it held back", res.Policy)
	}
	if res.Peers != nil || res.Advertise != nil {
		t.Errorf("peers error %v, advertise error %v; want none", res.Peers, res.Advertise)
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "AddPeer") || strings.Contains(c, "Path") || strings.HasPrefix(c, "DeleteDefinedSet nodebgp-own") {
			t.Errorf("after a failed policy step: %s (all: %q)", c, calls)
		}
	}
	if !slices.Contains(calls, "DeletePeer 10.199.1.14") {
		t.Errorf("the removed peer was not deleted: %q", calls)
	}

	n.calls.fail = nil
	n.apply(t)
	have, err := n.speaker.listLocalPaths(testContext(t))
	if err != nil || !slices.Equal(have, n.desired.Advertised) {
		t.Errorf("after the retry the speaker originates %v, %v; want %v", have, err, n.desired.Advertised)
	}
}

// Invalid input is refused, naming it, and the rest applies: an invalid
// Policy keeps the previous one, a bad peer or path is left out.
func TestApplyRefusesInvalidInputAndAppliesTheRest(t *testing.T) {
	n := applyNode(t)
	good := Policy{Communities: []string{"64512:100"}}
	n.desired = Desired{Policy: good}
	n.apply(t)

	n2 := passivePeer("n2", "10.199.1.12", testASN, "10.244.2.0/24")
	badPeer := passivePeer("bad", "10.199.1.13", 0)
	res := n.speaker.Apply(testContext(t), Desired{
		Policy:     Policy{PrependCount: 99},
		Peers:      []Peer{n2, badPeer},
		Advertised: []Path{path("10.244.1.0/24", testNextHopA), path("10.244.2.0/24", "fd00::1")},
	})
	for _, c := range []struct {
		err  error
		want string
	}{
		{res.Policy, "Policy.PrependCount: 99"},
		{res.Peers, "peer bad (10.199.1.13): 0 is not a valid AS number"},
		{res.Advertise, "prefix 10.244.2.0/24: cannot be advertised with next hop fd00::1"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", c.err, c.want)
		}
	}
	names, err := n.speaker.listPolicyNames(testContext(t))
	if norm, _ := good.normalize(); err != nil || !names[norm.upstreamExportPolicyName()] {
		t.Errorf("the previous policy is gone: %v, %v", names, err)
	}
	peers, err := n.speaker.listPeers(testContext(t))
	if err != nil || len(peers) != 1 || peers[0].Address != n2.Address {
		t.Errorf("GoBGP's peers = %v, %v; want only %s", peers, err, n2)
	}
	paths, err := n.speaker.listLocalPaths(testContext(t))
	if want := []Path{path("10.244.1.0/24", testNextHopA)}; err != nil || !slices.Equal(paths, want) {
		t.Errorf("originated %v, %v; want %v", paths, err, want)
	}
}
