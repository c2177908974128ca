package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// A has a node peer B and a ToR C. A's Service route goes to C only; B
// receives A's pod CIDR and nothing else. With the policy that holds
// Service routes back from node peers taken out of A's export assignment,
// B does receive it: proof that the check can fail. Withdrawing the
// Service route takes it from C.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestServiceRoutesGoToUpstreamPeersOnly(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	a := startNode(t, "node-a", 65001, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	b := startNode(t, "node-b", 65002, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	c := startNode(t, "tor-c", 65003, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	a.setPeers(t, b.peer, asUpstream(c.peer))
	b.setPeers(t, a.peer)
	c.setPeers(t, asUpstream(a.peer))
	c.setPolicy(t, Policy{AcceptUpstreamRoutes: true})
	a.setPolicy(t, Policy{Communities: []string{"64512:300"}})
	waitEstablished(t, a, b)
	waitEstablished(t, a, c)

	a.advertise(t, testNextHopA, "10.244.1.0/24")
	a.advertiseServices(t, testNextHopA, "198.51.100.10/32", "10.96.0.10/32")
	svc := netip.MustParsePrefix("198.51.100.10/32")
	waitFor(t, c.name+" to learn A's Service route", func() (bool, string) {
		paths := c.bestPaths(t)
		return hasPrefix(paths, svc) && hasPrefix(paths, netip.MustParsePrefix("10.96.0.10/32")), fmt.Sprint(paths)
	})
	waitFor(t, b.name+" to learn A's pod CIDR", func() (bool, string) {
		paths := b.bestPaths(t)
		return hasPrefix(paths, netip.MustParsePrefix("10.244.1.0/24")), fmt.Sprint(paths)
	})
	// Received counts what arrived before import policy: B's import would
	// reject a Service route anyway, so this is the export side.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		if st, _ := b.peerStatus(t, a); st.Received != 1 {
			t.Fatalf("%s received %d prefixes from %s, want 1 (its pod CIDR, no Service route)", b.name, st.Received, a.name)
		}
	}
	if st, _ := c.peerStatus(t, a); st.Received != 3 {
		t.Errorf("%s received %d prefixes from %s, want 3 (pod CIDR and two Service routes)", c.name, st.Received, a.name)
	}

	// Withdrawn: gone from the ToR.
	a.advertiseServices(t, testNextHopA, "10.96.0.10/32")
	waitFor(t, c.name+" to lose the withdrawn Service route", func() (bool, string) {
		paths := c.bestPaths(t)
		return !hasPrefix(paths, svc), fmt.Sprint(paths)
	})

	ctx := testContext(t)
	asg := &api.PolicyAssignment{Name: globalAssignment, Direction: api.PolicyDirection_EXPORT, DefaultAction: api.RouteAction_REJECT}
	for _, name := range []string{Policy{Communities: []string{"64512:300"}}.upstreamExportPolicyName(), exportPolicy} {
		asg.Policies = append(asg.Policies, &api.Policy{Name: name})
	}
	if err := a.speaker.server.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: asg}); err != nil {
		t.Fatalf("removing %s from %s's export assignment: %v", noServicesPolicy, a.name, err)
	}
	if err := a.speaker.server.ResetPeer(ctx, &api.ResetPeerRequest{Address: b.peer.Address.String(), Soft: true, Direction: api.ResetPeerRequest_OUT}); err != nil {
		t.Fatalf("re-sending %s's routes to %s: %v", a.name, b.name, err)
	}
	waitFor(t, b.name+" to receive the Service route once "+noServicesPolicy+" is gone", func() (bool, string) {
		st, _ := b.peerStatus(t, a)
		return st.Received == 2, fmt.Sprintf("received %d", st.Received)
	})
}

// A ToR that sends a node a Service route (another node's, reflected, or its
// own) is refused even with AcceptUpstreamRoutes: it would become a kernel
// route and take the address's traffic away from kube-proxy. Without the
// Service prefix in the policy the same route is taken: proof the check can
// fail.
//
// Needs root (a private network namespace for 127.0.0.2).
func TestServiceRoutesAreNeverTakenFromUpstream(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	a := startNode(t, "node-a", 65001, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	c := startNode(t, "tor-c", 65003, netip.MustParseAddr("127.0.0.3"), 0, "10.255.0.3", true)
	a.setPeers(t, asUpstream(c.peer))
	c.setPeers(t, asUpstream(a.peer))
	svc := "198.51.100.10/32"
	a.setPolicy(t, Policy{AcceptUpstreamRoutes: true, ServicePrefixes: []netip.Prefix{netip.MustParsePrefix(svc), netip.MustParsePrefix("10.96.0.0/12")}})
	waitEstablished(t, a, c)
	c.advertise(t, "10.255.0.3", svc, "10.96.0.10/32", "192.0.2.0/24")
	waitFor(t, a.name+" to take the ToR's other route", func() (bool, string) {
		paths := a.bestPaths(t)
		return hasPrefix(paths, netip.MustParsePrefix("192.0.2.0/24")), fmt.Sprint(paths)
	})
	for _, p := range []string{svc, "10.96.0.10/32"} {
		if paths := a.bestPaths(t); hasPrefix(paths, netip.MustParsePrefix(p)) {
			t.Errorf("%s took Service route %s from its ToR: %v", a.name, p, paths)
		}
	}
	a.setPolicy(t, Policy{AcceptUpstreamRoutes: true})
	waitFor(t, a.name+" to take the Service route once it is not in the policy", func() (bool, string) {
		paths := a.bestPaths(t)
		return hasPrefix(paths, netip.MustParsePrefix(svc)), fmt.Sprint(paths)
	})
}
