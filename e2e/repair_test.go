//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testRouteDeletedByHand: a route of ours deleted by hand is back within a
// second: the agent watches for deletions of its routes by others. (The
// periodic sync would bring it back too, but up to a sync period later.)
func testRouteDeletedByHand(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	node1, node2 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2)
	want := meshRoutes(node1, l.Nodes)

	e2eutil.LogStep(t, "%s routes the mesh before the step", node1.Name)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes before the step", func() error {
		return checkRoutes(ctx, node1, want)
	})

	e2eutil.LogStep(t, "ip -n %s route del %s proto %s", node1.Netns, node2.PodCIDR, e2eutil.RouteProto)
	// The command's success proves the route was gone; the agent may put it
	// back within milliseconds (it watches route deletions), so its absence
	// is not checked afterwards.
	deleted := time.Now()
	e2eutil.MustRun(ctx, t, "ip", "-n", node1.Netns, "route", "del", node2.PodCIDR.String(), "proto", e2eutil.RouteProto)

	limit := time.Second
	e2eutil.LogStep(t, "the route is back within %s (--routes-sync-period is %s)", limit, syncPeriod)
	e2eutil.Eventually(t, limit, 100*time.Millisecond, node2.PodCIDR.String()+" back on "+node1.Name, func() error {
		return checkRoutes(ctx, node1, want)
	})
	t.Logf("route back at most %s after it was deleted", time.Since(deleted).Round(time.Millisecond))
}

// testUplinkFlap: after node1's uplink goes down and up, all its routes are
// back, its sessions too, and pods reach each other again.
func testUplinkFlap(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	node1 := nodeNumbered(t, l, 1)
	nodes := slices.Clone(l.Nodes)
	want := meshRoutes(node1, nodes)

	e2eutil.LogStep(t, "%s routes the mesh before the step", node1.Name)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes before the step", func() error {
		return checkRoutes(ctx, node1, want)
	})

	e2eutil.LogStep(t, "ip -n %s link set eth0 down; sleep 2", node1.Netns)
	t.Cleanup(func() {
		// Whatever happens, the node gets its uplink back.
		_, _ = e2eutil.Run(context.Background(), "ip", "-n", node1.Netns, "link", "set", "eth0", "up")
	})
	e2eutil.MustRun(ctx, t, "ip", "-n", node1.Netns, "link", "set", "eth0", "down")
	time.Sleep(2 * time.Second) // the flap: eth0 stays down this long
	// The kernel drops every route via a link that goes down, and the agent
	// cannot put one back meanwhile: what comes back below, the agent put
	// back after the flap.
	e2eutil.LogStep(t, "with eth0 down, %s has no route of proto %s left", node1.Name, e2eutil.RouteProto)
	got, err := e2eutil.KernelRoutes(ctx, node1.Netns)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("with eth0 down %s still has routes of proto %s, so their return would prove nothing:\n%s", node1.Name, e2eutil.RouteProto, got)
	}

	e2eutil.LogStep(t, "ip -n %s link set eth0 up", node1.Netns)
	e2eutil.MustRun(ctx, t, "ip", "-n", node1.Netns, "link", "set", "eth0", "up")

	e2eutil.LogStep(t, "all of %s's routes are back", node1.Name)
	took := e2eutil.Eventually(t, routeWait, 250*time.Millisecond, "routes back on "+node1.Name, func() error {
		return checkRoutes(ctx, node1, want)
	})
	t.Logf("routes back %s after eth0 came up", took.Round(time.Millisecond))

	e2eutil.LogStep(t, "sessions are established and every node routes the mesh")
	e2eutil.Eventually(t, sessionWait, time.Second, "mesh after the flap", func() error {
		return checkMeshPeers(ctx, l, nodes)
	})
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes after the flap", func() error {
		return checkMeshRoutes(ctx, nodes)
	})

	pod1 := podOf(t, node1)
	for _, n := range []int{2, 3} {
		target := podOf(t, nodeNumbered(t, l, n))
		e2eutil.LogStep(t, "%s reaches %s", pod1.Netns, target.Netns)
		e2eutil.Eventually(t, 15*time.Second, time.Second, "ping "+target.Netns, func() error {
			return e2eutil.Ping(ctx, pod1.Netns, target.IP, 3)
		})
	}
}
