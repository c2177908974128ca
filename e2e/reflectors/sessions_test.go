//go:build e2e

package reflectors

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// testSessions: a reflector has an Established session with each of the
// other three nodes, each marked as its route-reflector client (the other
// reflector too, see pkg/peering); a client has exactly two neighbors,
// the reflectors. Prints how many sessions the cluster has against the full
// mesh's n(n-1)/2.
func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	sessions := 0
	for _, n := range l.Nodes {
		want := expectedPeers(n.Number)
		role := "client"
		if isReflector(n.Number) {
			role = "reflector"
		}
		e2eutil.LogStep(t, "%s (%s): gobgp -j neighbor shows exactly %v, all Established", n.Name, role, want)
		e2eutil.Eventually(t, 30*time.Second, time.Second, n.Name+" BGP neighbors", func() error {
			nbs, err := e2eutil.BGPNeighbors(ctx, l, n)
			if err != nil {
				return err
			}
			return checkNeighbors(n, nbs, want)
		})
		sessions += len(want)
	}
	// Each session is counted once on each side.
	sessions /= 2
	mesh := labNodes * (labNodes - 1) / 2
	t.Logf("sessions: %d nodes, %d reflectors: %d BGP sessions (full mesh: %d)", labNodes, len(reflectorNodes), sessions, mesh)
	fmt.Printf("reflectors: %d nodes: route reflectors %d sessions, full mesh n(n-1)/2 = %d\n", labNodes, sessions, mesh)
	for _, n := range []int{10, 100, 1000} {
		t.Logf("sessions: at %d nodes with %d reflectors: %d (full mesh: %d)", n, len(reflectorNodes), rrSessions(n, len(reflectorNodes)), n*(n-1)/2)
	}
}

// rrSessions is the session count of n nodes with r reflectors: the
// reflectors with each other, and each reflector with every client.
func rrSessions(n, r int) int { return r*(r-1)/2 + r*(n-r) }

// checkNeighbors fails unless nbs are exactly want, all Established, and a
// reflector reflects to its clients (and only to them) with the cluster ID.
func checkNeighbors(node *lab.Node, nbs []lab.Neighbor, want []netip.Addr) error {
	var got []netip.Addr
	for _, nb := range nbs {
		got = append(got, nb.Address)
	}
	slices.SortFunc(got, func(a, b netip.Addr) int { return a.Compare(b) })
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: neighbors %v, want exactly %v", node.Name, got, want)
	}
	for _, nb := range nbs {
		if !nb.Established() {
			return fmt.Errorf("%s: neighbor %s is not Established", node.Name, nb.Address)
		}
		// A reflector serves every node as a client, the other reflector too.
		wantClient := isReflector(node.Number)
		if nb.RRClient != wantClient {
			return fmt.Errorf("%s: neighbor %s route-reflector client = %t, want %t", node.Name, nb.Address, nb.RRClient, wantClient)
		}
		if wantClient && nb.ClusterID != clusterID {
			return fmt.Errorf("%s: neighbor %s reflected with cluster ID %q, want %s", node.Name, nb.Address, nb.ClusterID, clusterID)
		}
	}
	return nil
}

// nodeNumber is the number of the lab node with address a, 0 if none.
func nodeNumber(a netip.Addr) int {
	for n := 1; n <= labNodes; n++ {
		if lab.NodeIP(n) == a {
			return n
		}
	}
	return 0
}
