//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	// sessionWait bounds the wait for BGP sessions: connect retries, OPEN,
	// and a graceful restart's reconnect all fit well inside it.
	sessionWait = 90 * time.Second
	// routeWait bounds the wait for kernel routes once sessions are up.
	routeWait = 30 * time.Second
)

// testMesh: every node has an established iBGP session with every other
// node, and routes the other nodes' pod CIDRs via their node IPs.
func testMesh(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	if len(l.Nodes) != labNodes {
		t.Fatalf("the lab has %d nodes, want %d", len(l.Nodes), labNodes)
	}

	e2eutil.LogStep(t, "every node has an established session with every other node (gobgp -j neighbor in each node namespace)")
	took := e2eutil.Eventually(t, sessionWait, time.Second, "full iBGP mesh", func() error {
		return checkMeshPeers(ctx, l, l.Nodes)
	})
	t.Logf("mesh complete after %s", took.Round(time.Millisecond))

	e2eutil.LogStep(t, "every node routes the other nodes' pod CIDRs with proto %s via their node IP, and nothing else", e2eutil.RouteProto)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "kernel routes of the mesh", func() error {
		return checkMeshRoutes(ctx, l.Nodes)
	})
	for _, n := range l.Nodes {
		got, _ := e2eutil.KernelRoutes(ctx, n.Netns)
		t.Logf("%s: %v", n.Name, got)
	}
}

// testFourthNode: a node that joins is peered and routed by every other
// node; once its Node object is deleted, its peer and its route disappear.
func testFourthNode(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	base := slices.Clone(l.Nodes)
	if len(base) != labNodes {
		t.Fatalf("the lab has %d nodes before the step, want %d", len(base), labNodes)
	}

	e2eutil.LogStep(t, "add lab-node4: namespace and uplink, Node object with podCIDR %s, agent", lab.NodePodCIDR(4))
	t.Cleanup(func() {
		// Also when the step fails half-way: later steps expect three nodes.
		if n := l.NodeByName(lab.NodeName(4)); n != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := l.RemoveNode(ctx, n); err != nil {
				t.Errorf("removing %s: %v", n.Name, err)
			}
		}
	})
	// The node's log may be left from an earlier run (the lab appends).
	logOffset := e2eutil.LogSize(l.Agents.Log(&lab.Node{Name: lab.NodeName(4)}))
	node4, err := l.AddNode(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(base), node4)

	e2eutil.LogStep(t, "lab-node1..3 and lab-node4 have established sessions with each other")
	e2eutil.Eventually(t, sessionWait, time.Second, "sessions with lab-node4", func() error {
		return checkMeshPeers(ctx, l, all)
	})
	e2eutil.LogStep(t, "lab-node4's agent took its start for a fresh one: its first connection attempts went out at once")
	checkFreshStart(t, l, node4, logOffset, true)

	e2eutil.LogStep(t, "%s via %s appears on lab-node1..3; lab-node4 routes theirs", node4.PodCIDR, node4.IP)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes with lab-node4", func() error {
		return checkMeshRoutes(ctx, all)
	})

	e2eutil.LogStep(t, "delete lab-node4's Node object (kubectl delete node)")
	if err := l.CP.DeleteNode(ctx, node4.Name); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "lab-node1..3 drop the peer %s and the route %s", node4.IP, node4.PodCIDR)
	took := e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "lab-node4 gone from peers and routes", func() error {
		if err := checkMeshPeers(ctx, l, base); err != nil {
			return err
		}
		return checkMeshRoutes(ctx, base)
	})
	t.Logf("peer and route gone after %s", took.Round(time.Millisecond))

	e2eutil.LogStep(t, "stop lab-node4's agent and remove the node")
	if err := l.RemoveNode(ctx, node4); err != nil {
		t.Fatal(err)
	}
	if err := checkMeshRoutes(ctx, base); err != nil {
		t.Fatalf("after removing lab-node4: %v", err)
	}
}
