//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"
)

// testRouteDeletedByHand: a route of ours deleted by hand is back within
// three sync periods (the periodic sync alone would be enough).
func testRouteDeletedByHand(t *testing.T) {
	l := requireLab(t)
	ctx := testContext(t, 2*time.Minute)
	node1, node2 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2)
	want := meshRoutes(node1, l.Nodes)

	logStep(t, "%s routes the mesh before the step", node1.Name)
	eventually(t, routeWait, 500*time.Millisecond, "routes before the step", func() error {
		return checkRoutes(ctx, node1, want)
	})

	logStep(t, "ip -n %s route del %s proto %s", node1.Netns, node2.PodCIDR, routeProto)
	// The command's success proves the route was gone; the agent may put it
	// back within milliseconds (it watches route deletions), so its absence
	// is not checked afterwards.
	deleted := time.Now()
	mustRun(ctx, t, "ip", "-n", node1.Netns, "route", "del", node2.PodCIDR.String(), "proto", routeProto)

	limit := 3 * syncPeriod
	logStep(t, "the route is back within %s (3 x --routes-sync-period)", limit)
	eventually(t, limit, 100*time.Millisecond, node2.PodCIDR.String()+" back on "+node1.Name, func() error {
		return checkRoutes(ctx, node1, want)
	})
	t.Logf("route back at most %s after it was deleted", time.Since(deleted).Round(time.Millisecond))
}

// testUplinkFlap: after node1's uplink goes down and up, all its routes are
// back, its sessions too, and pods reach each other again.
func testUplinkFlap(t *testing.T) {
	l := requireLab(t)
	ctx := testContext(t, 3*time.Minute)
	node1 := nodeNumbered(t, l, 1)
	nodes := slices.Clone(l.Nodes)
	want := meshRoutes(node1, nodes)

	logStep(t, "%s routes the mesh before the step", node1.Name)
	eventually(t, routeWait, 500*time.Millisecond, "routes before the step", func() error {
		return checkRoutes(ctx, node1, want)
	})

	logStep(t, "ip -n %s link set eth0 down; sleep 2", node1.Netns)
	t.Cleanup(func() {
		// Whatever happens, the node gets its uplink back.
		_, _ = run(context.Background(), "ip", "-n", node1.Netns, "link", "set", "eth0", "up")
	})
	mustRun(ctx, t, "ip", "-n", node1.Netns, "link", "set", "eth0", "down")
	time.Sleep(2 * time.Second)
	if got, err := kernelRoutes(ctx, node1.Netns); err == nil {
		t.Logf("with eth0 down, %s has %d routes of proto %s left (the kernel drops routes via a link that goes down)", node1.Name, len(got), routeProto)
	}

	logStep(t, "ip -n %s link set eth0 up", node1.Netns)
	mustRun(ctx, t, "ip", "-n", node1.Netns, "link", "set", "eth0", "up")

	logStep(t, "all of %s's routes are back", node1.Name)
	took := eventually(t, routeWait, 250*time.Millisecond, "routes back on "+node1.Name, func() error {
		return checkRoutes(ctx, node1, want)
	})
	t.Logf("routes back %s after eth0 came up", took.Round(time.Millisecond))

	logStep(t, "sessions are established and every node routes the mesh")
	eventually(t, sessionWait, time.Second, "mesh after the flap", func() error {
		return checkMeshPeers(ctx, l, nodes)
	})
	eventually(t, routeWait, 500*time.Millisecond, "routes after the flap", func() error {
		return checkMeshRoutes(ctx, nodes)
	})

	pod1 := podOf(t, node1)
	for _, n := range []int{2, 3} {
		target := podOf(t, nodeNumbered(t, l, n))
		logStep(t, "%s reaches %s", pod1.Netns, target.Netns)
		eventually(t, 15*time.Second, time.Second, "ping "+target.Netns, func() error {
			return ping(ctx, pod1.Netns, target.IP, 3)
		})
	}
}
