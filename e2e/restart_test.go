//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	// pingInterval is the probe rate across an agent restart: 20 per second,
	// so a gap of 100 ms in the data plane shows as two lost pings. None may
	// be lost: routes stay in the kernel while the agent is down and
	// graceful restart keeps the peers' routes.
	pingInterval = 50 * time.Millisecond
	// agentDownWindow is how long the restart step keeps the agent stopped
	// while it watches the routes stay in place.
	agentDownWindow = 5 * time.Second
	// restartPruneWait bounds the prune of a stale route after a restart. It
	// is well under the agents' --bgp-restart-time (120 s), so a pass proves
	// the prune followed the peers' End-of-RIB, not the fallback timer.
	restartPruneWait = 60 * time.Second
)

// testAgentRestart: node2's agent is stopped (SIGTERM) and started again
// while the pod on node1 pings the pod on node2 every 50 ms. The routes stay
// in every kernel while the agent is down, and no ping is lost.
func testAgentRestart(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	node1, node2 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2)
	pod1, pod2 := podOf(t, node1), podOf(t, node2)
	nodes := slices.Clone(l.Nodes)

	e2eutil.LogStep(t, "the mesh is complete and %s reaches %s before the restart", pod1.Netns, pod2.Netns)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes before the restart", func() error {
		return checkMeshRoutes(ctx, nodes)
	})
	if err := e2eutil.Ping(ctx, pod1.Netns, pod2.IP, 3); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { restartIfStopped(t, l, node2) })
	logOffset := e2eutil.LogSize(l.Agents.Log(node2))
	watch := e2eutil.PingWatch{From: pod1.Netns, To: pod2.IP, Interval: pingInterval, After: 2 * time.Second}
	pings, window := e2eutil.NoPingLost(t, watch, node2.Name+"'s agent restart", func() error {
		e2eutil.LogStep(t, "SIGTERM %s's agent", node2.Name)
		if err := l.Agents.Stop(node2); err != nil {
			return err
		}
		if l.Agents.Running(node2) {
			return fmt.Errorf("%s's agent still runs after Agents.Stop", node2.Name)
		}

		e2eutil.LogStep(t, "while it is down (%s): every node keeps all its routes, %s's included", agentDownWindow, node2.Name)
		e2eutil.Consistently(t, agentDownWindow, 500*time.Millisecond, "routes with "+node2.Name+"'s agent down", func() error {
			return checkMeshRoutes(ctx, nodes)
		})

		e2eutil.LogStep(t, "start %s's agent again", node2.Name)
		if err := l.Agents.Start(node2); err != nil {
			return err
		}
		e2eutil.LogStep(t, "sessions with %s are established again and every route is in place", node2.Name)
		if _, err := e2eutil.WaitFor(sessionWait, time.Second, "mesh after the restart", func() error {
			return checkMeshPeers(ctx, l, nodes)
		}); err != nil {
			return err
		}
		_, err := e2eutil.WaitFor(routeWait, 500*time.Millisecond, "routes after the restart", func() error {
			return checkMeshRoutes(ctx, nodes)
		})
		return err
	})
	figure := fmt.Sprintf("restart: %s (agent on %s stopped and back in %s, ping every %s)",
		pings, node2.Name, window.Round(100*time.Millisecond), pingInterval)
	t.Log(figure)
	fmt.Println("e2e:", figure)

	e2eutil.LogStep(t, "%s still reaches %s after the restart", pod1.Netns, pod2.Netns)
	if err := e2eutil.Ping(ctx, pod1.Netns, pod2.IP, 3); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "the restarted agent found its routes in the kernel: not a fresh start, no early connection attempts")
	checkFreshStart(t, l, node2, logOffset, false)
}

// freshStartLog is what an agent logs when it finds no route of its own in
// the kernel at start, so that its peers' first connection attempts go out
// at once (pkg/agent start.go).
const freshStartLog = "fresh start: no route of ours in the kernel"

// checkFreshStart fails unless node's agent, started after offset in its
// log, took its start for a fresh one exactly when fresh says so.
func checkFreshStart(t *testing.T, l *lab.Lab, node *lab.Node, offset int64, fresh bool) {
	t.Helper()
	started, err := e2eutil.LogLinesSince(l.Agents.Log(node), offset, "BGP speaker started")
	if err != nil {
		t.Fatal(err)
	}
	if len(started) == 0 {
		t.Fatalf("%s's agent log has no speaker start since the step began", node.Name)
	}
	lines, err := e2eutil.LogLinesSince(l.Agents.Log(node), offset, freshStartLog)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(lines) > 0; got != fresh {
		t.Fatalf("%s's agent took its start for a fresh one: %v, want %v (log lines: %q)", node.Name, got, fresh, lines)
	}
}

// testNodeDeletedWhileAgentStopped: node1's agent is stopped, node3's Node
// object deleted meanwhile; once node1's agent is back and its peers sent
// End-of-RIB, node1 prunes the stale route to node3's pod CIDR, and keeps the
// route to node2's throughout. Then node3's Node object is created again, as
// when a node registers again, and node3 rejoins the mesh.
func testNodeDeletedWhileAgentStopped(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 5*time.Minute)
	node1, node2, node3 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2), nodeNumbered(t, l, 3)
	nodes := slices.Clone(l.Nodes)

	e2eutil.LogStep(t, "the mesh is complete before the step")
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes before the step", func() error {
		return checkMeshRoutes(ctx, nodes)
	})
	t.Cleanup(func() {
		if t.Failed() {
			restoreNode(t, l, node1, node3.Number)
		}
	})

	e2eutil.LogStep(t, "SIGTERM %s's agent", node1.Name)
	if err := l.Agents.Stop(node1); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "delete %s's Node object", node3.Name)
	if err := l.CP.DeleteNode(ctx, node3.Name); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "%s drops %s's route and keeps %s's (its agent is gracefully restarting)", node2.Name, node3.Name, node1.Name)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, node2.Name+" without "+node3.Name, func() error {
		return checkRoutes(ctx, node2, map[netip.Prefix]netip.Addr{node1.PodCIDR: node1.IP})
	})

	e2eutil.LogStep(t, "%s's kernel still holds %s: nothing pruned it while its agent was down", node1.Name, node3.PodCIDR)
	if err := checkRoutes(ctx, node1, meshRoutes(node1, nodes)); err != nil {
		t.Fatalf("precondition: %v", err)
	}

	e2eutil.LogStep(t, "start %s's agent again", node1.Name)
	if err := l.Agents.Start(node1); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "%s drops the stale %s within %s, and never loses %s", node1.Name, node3.PodCIDR, restartPruneWait, node2.PodCIDR)
	took := e2eutil.Eventually(t, restartPruneWait, 250*time.Millisecond, node1.Name+" prunes "+node3.PodCIDR.String(), func() error {
		got, err := e2eutil.KernelRoutes(ctx, node1.Netns)
		if err != nil {
			return err
		}
		if got[node2.PodCIDR].Via() != node2.IP {
			t.Fatalf("%s lost %s via %s during its agent's restart: %v", node1.Name, node2.PodCIDR, node2.IP, got)
		}
		return diffRoutes(node1.Netns, got.Vias(), map[netip.Prefix]netip.Addr{node2.PodCIDR: node2.IP})
	})
	t.Logf("stale route pruned %s after the agent started", took.Round(time.Millisecond))

	e2eutil.LogStep(t, "recreate %s's Node object (the node registers again): it rejoins the mesh within %s", node3.Name, sessionWait)
	if _, err := l.AddNode(ctx, node3.Number); err != nil {
		t.Fatal(err)
	}
	took = e2eutil.Eventually(t, sessionWait, time.Second, node3.Name+" rejoins the mesh", func() error {
		return checkMeshPeers(ctx, l, nodes)
	})
	t.Logf("mesh complete again %s after the Node object came back", took.Round(time.Millisecond))
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "routes with "+node3.Name+" back", func() error {
		return checkMeshRoutes(ctx, nodes)
	})
}

// restartIfStopped starts node's agent again if a failed step left it stopped.
func restartIfStopped(t *testing.T, l *lab.Lab, node *lab.Node) {
	if l.Agents.Running(node) {
		return
	}
	if err := l.Agents.Start(node); err != nil {
		t.Errorf("restarting %s's agent: %v", node.Name, err)
	}
}

// restoreNode puts back what testNodeDeletedWhileAgentStopped took away when
// the step failed before it did so itself: agent's process and node n's Node
// object. AddNode changes nothing that is already up. It does not wait for
// the mesh: the step itself asserts that, and the only later step needs node1
// alone.
func restoreNode(t *testing.T, l *lab.Lab, agent *lab.Node, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restartIfStopped(t, l, agent)
	if _, err := l.AddNode(ctx, n); err != nil {
		t.Errorf("restoring %s: %v", lab.NodeName(n), err)
	}
}
