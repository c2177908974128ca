//go:build e2e

package fabric

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// upNodes are the nodes whose ToR session must be up: those without a
// TCP-MD5 password. The password nodes are step 04's, which is out of the
// runbook until the agent can set TCP-MD5 (see TestFabric).
func upNodes(t *testing.T, l *lab.Lab) []*lab.Node {
	var nodes []*lab.Node
	for n := 1; n <= labNodes; n++ {
		if _, ok := torPasswords[n]; !ok {
			nodes = append(nodes, e2eutil.NodeWithPod(t, l, n))
		}
	}
	return nodes
}

// testSessions: each node's eBGP session with the ToR is Established in the
// node's own AS, and FRR's table holds each node's pod CIDR with that node as
// next hop, and the communities its annotations set.
func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	nodes := upNodes(t, l)
	for _, n := range nodes {
		e2eutil.LogStep(t, "%s (AS %d) is Established on %s as %s", n.Name, nodeASN(n.Number), l.ToRs[0].Name, n.IP)
		took := e2eutil.Eventually(t, 60*time.Second, time.Second, n.Name+" session on the ToR", func() error {
			return checkToRSession(ctx, l, n)
		})
		e2eutil.LogStep(t, "%s: Established after %s more", n.Name, took.Round(100*time.Millisecond))
	}
	for _, n := range nodes {
		var best lab.ToRPath
		e2eutil.Eventually(t, 30*time.Second, time.Second, n.Name+" pod CIDR on the ToR", func() error {
			var err error
			best, err = checkToRHasRoute(ctx, l, n)
			return err
		})
		e2eutil.LogStep(t, "ToR: %s via %s, AS path %v, communities %v, large %v", n.PodCIDR, best.NextHops, best.ASPath, best.Communities, best.LargeCommunities)
		if !slices.Equal(best.ASPath, []uint32{nodeASN(n.Number)}) {
			t.Errorf("%s on the ToR: AS path %v, want [%d]", n.PodCIDR, best.ASPath, nodeASN(n.Number))
		}
		wantC, wantL := []string(nil), []string(nil)
		if n.Number == communityNode {
			wantC, wantL = nodeCommunities, nodeLargeCommunities
		}
		if !sameSet(best.Communities, wantC) || !sameSet(best.LargeCommunities, wantL) {
			t.Errorf("%s on the ToR: communities %v large %v, want %v and %v", n.PodCIDR, best.Communities, best.LargeCommunities, wantC, wantL)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return fmt.Sprint(a) == fmt.Sprint(b)
}
