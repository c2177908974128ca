//go:build e2e

package bfd

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	sessionWait = 90 * time.Second
	routeWait   = 30 * time.Second
	// detection is 3 x 300 ms; maxFailover adds a BGP-only pass, GoBGP's
	// drop and a route sync, and the jitter of a loaded machine.
	maxFailover = 1500 * time.Millisecond
	// maxRecovery: BFD back (a packet each way, at most 1 s apart while
	// down), the neighbor re-created, GoBGP's first dial (1-2 s), OPEN and
	// the routes.
	maxRecovery = 6 * time.Second
	pollEvery   = 20 * time.Millisecond
)

var (
	transitionLine = regexp.MustCompile(`(?m)^nodebgp_bfd_transitions_total\{peer="([^"]+)",state="Down"\} (\d+)$`)
)

var goroutinesLine = regexp.MustCompile(`(?m)^go_goroutines (\d+)$`)

// goroutines reads the agent's go_goroutines from node's /metrics.
func goroutines(ctx context.Context, t *testing.T, node *lab.Node) int {
	t.Helper()
	_, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, "http://127.0.0.1:9779/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := goroutinesLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no go_goroutines in /metrics", node.Name)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// bfdDowns reads node's /metrics: how often each session went Down.
func bfdDowns(ctx context.Context, node *lab.Node) (map[string]string, error) {
	_, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, "http://127.0.0.1:9779/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range transitionLine.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out, nil
}

// checkBFDUp: node has exactly one BFD session per other node, each Up.
func checkBFDUp(ctx context.Context, l *lab.Lab, node *lab.Node) error {
	st, err := e2eutil.BFDStates(ctx, node)
	if err != nil {
		return err
	}
	if len(st) != len(l.Nodes)-1 {
		return fmt.Errorf("%s: %d BFD sessions %v, want %d", node.Name, len(st), st, len(l.Nodes)-1)
	}
	for _, o := range l.Nodes {
		if o != node && st[o.IP.String()] != "Up" {
			return fmt.Errorf("%s: BFD with %s is %q: %v", node.Name, o.Name, st[o.IP.String()], st)
		}
	}
	return nil
}

// checkRoutes: node routes every other node's pod CIDR via its IP.
func checkRoutes(ctx context.Context, l *lab.Lab, node *lab.Node, except *lab.Node) error {
	got, err := e2eutil.KernelRoutes(ctx, node.Netns)
	if err != nil {
		return err
	}
	for _, o := range l.Nodes {
		if o == node || o == except {
			continue
		}
		if got[o.PodCIDR].Via() != o.IP {
			return fmt.Errorf("%s: route to %s is %v, want via %s (routes %v)", node.Name, o.PodCIDR, got[o.PodCIDR], o.IP, got)
		}
	}
	if except != nil {
		if gw, ok := got[except.PodCIDR]; ok {
			return fmt.Errorf("%s: still routes %s via %s", node.Name, except.PodCIDR, gw)
		}
	}
	return nil
}

func checkAll(ctx context.Context, l *lab.Lab) error {
	for _, n := range l.Nodes {
		if err := checkBFDUp(ctx, l, n); err != nil {
			return err
		}
		if err := checkRoutes(ctx, l, n, nil); err != nil {
			return err
		}
	}
	return nil
}

func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	e2eutil.LogStep(t, "every node's /metrics shows BFD Up with every other node, and the mesh routes are in place")
	took := e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere", func() error { return checkAll(ctx, l) })
	t.Logf("BFD Up and routes in place %s into the step", took.Round(time.Millisecond))
}

func testNodeDies(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere", func() error { return checkAll(ctx, l) })
	dead := l.Nodes[2]
	others := slices.DeleteFunc(slices.Clone(l.Nodes), func(n *lab.Node) bool { return n == dead })
	t.Cleanup(func() { _ = e2eutil.SetUplink(context.Background(), dead, true) })

	e2eutil.LogStep(t, "%s's uplink goes down; %s must leave %s's and %s's kernels within %s",
		dead.Name, dead.PodCIDR, others[0].Name, others[1].Name, maxFailover)
	fault := time.Now()
	if err := e2eutil.SetUplink(ctx, dead, false); err != nil {
		t.Fatal(err)
	}
	gone := map[string]time.Duration{}
	for deadline := fault.Add(10 * time.Second); len(gone) < len(others) && time.Now().Before(deadline); time.Sleep(pollEvery) {
		for _, n := range others {
			if _, ok := gone[n.Name]; ok {
				continue
			}
			got, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got[dead.PodCIDR]; !ok {
				gone[n.Name] = time.Since(fault)
			}
		}
	}
	t.Logf("fault -> route gone: %v (BFD 300ms x 3; without BFD the 90s hold time)", gone)
	for _, n := range others {
		d, ok := gone[n.Name]
		if !ok || d > maxFailover {
			t.Errorf("%s: %s left the kernel after %v (found gone: %v), want within %s", n.Name, dead.PodCIDR, d, ok, maxFailover)
		}
		if err := checkRoutes(ctx, l, n, dead); err != nil {
			t.Error(err)
		}
	}
	e2eutil.LogStep(t, "held down: %s's session stays down while BFD is down", dead.Name)
	e2eutil.Consistently(t, 3*time.Second, 500*time.Millisecond, "no route to the dead node", func() error {
		for _, n := range others {
			if err := checkRoutes(ctx, l, n, dead); err != nil {
				return err
			}
		}
		return nil
	})
	log := agentLog(t, l, others[0])
	if !strings.Contains(log, `msg="BFD session Down"`) || !strings.Contains(log, `diag="control detection time expired"`) {
		t.Errorf("%s's log has no BFD Down line with its diagnostic", others[0].Name)
	}

	e2eutil.LogStep(t, "the uplink comes back: sessions and routes return within %s", maxRecovery)
	heal := time.Now()
	if err := e2eutil.SetUplink(ctx, dead, true); err != nil {
		t.Fatal(err)
	}
	back := e2eutil.Eventually(t, 30*time.Second, pollEvery, "routes back", func() error {
		for _, n := range l.Nodes {
			if err := checkRoutes(ctx, l, n, nil); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("heal -> every route back: %s", back.Round(time.Millisecond))
	if time.Since(heal) > maxRecovery {
		t.Errorf("heal -> routes back took %s, want within %s", back, maxRecovery)
	}
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere", func() error { return checkAll(ctx, l) })
}

func agentLog(t *testing.T, l *lab.Lab, n *lab.Node) string {
	t.Helper()
	out, err := e2eutil.Output(context.Background(), "cat", l.Agents.Log(n))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testFlap(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere", func() error { return checkAll(ctx, l) })
	node := l.Nodes[1]
	t.Cleanup(func() { _ = e2eutil.SetUplink(context.Background(), node, true) })
	pids := map[string]int{}
	for _, n := range l.Nodes {
		pids[n.Name] = e2eutil.AgentPID(t, l, n)
	}
	flap := func(down, up time.Duration, until time.Duration) {
		for end := time.Now().Add(until); time.Now().Before(end); {
			if err := e2eutil.SetUplink(ctx, node, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(down)
			if err := e2eutil.SetUplink(ctx, node, true); err != nil {
				t.Fatal(err)
			}
			time.Sleep(up)
		}
	}
	before, _ := bfdDowns(ctx, l.Nodes[0])
	routinesBefore := goroutines(ctx, t, l.Nodes[0])
	e2eutil.LogStep(t, "%s's uplink goes down and up every 500 ms for 10 s (shorter than the detection time)", node.Name)
	flap(500*time.Millisecond, 500*time.Millisecond, 10*time.Second)
	e2eutil.LogStep(t, "then down 1.2 s, up 0.5 s for 10 s: BFD and BGP go down and up")
	flap(1200*time.Millisecond, 500*time.Millisecond, 10*time.Second)
	after, _ := bfdDowns(ctx, l.Nodes[0])
	t.Logf("%s's BFD Down transitions with %s: %s before, %s after", l.Nodes[0].Name, node.Name, before[node.IP.String()], after[node.IP.String()])
	if after[node.IP.String()] == before[node.IP.String()] {
		t.Errorf("the flapping never took BFD down: the step proves nothing")
	}
	e2eutil.LogStep(t, "routes and BFD settle; no agent restarted; one BFD session per peer")
	took := e2eutil.Eventually(t, sessionWait, 200*time.Millisecond, "settled", func() error { return checkAll(ctx, l) })
	t.Logf("settled %s after the flapping stopped", took.Round(time.Millisecond))
	// Settled means idle again: a goroutine per failed session or pass
	// would pile up here.
	time.Sleep(2 * time.Second)
	if after := goroutines(ctx, t, l.Nodes[0]); after > routinesBefore+10 {
		t.Errorf("%s's agent: %d goroutines before the flapping, %d after", l.Nodes[0].Name, routinesBefore, after)
	} else {
		t.Logf("%s's agent: %d goroutines before the flapping, %d after", l.Nodes[0].Name, routinesBefore, after)
	}
	for _, n := range l.Nodes {
		if pid := e2eutil.AgentPID(t, l, n); pid != pids[n.Name] {
			t.Errorf("%s's agent changed PID %d -> %d: it died", n.Name, pids[n.Name], pid)
		}
	}
}

func testPlannedRestart(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere", func() error { return checkAll(ctx, l) })
	node1, node2 := l.Nodes[0], l.Nodes[1]
	if node1.Pod == nil || node2.Pod == nil {
		t.Fatal("the lab's nodes have no pods")
	}
	p, err := e2eutil.StartPinger(node1.Pod.Netns, node2.Pod.IP, 50*time.Millisecond, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop() })
	time.Sleep(time.Second)
	e2eutil.LogStep(t, "SIGTERM %s's agent: BGP closes without a Cease, then BFD says AdminDown", node2.Name)
	t.Cleanup(func() {
		if !l.Agents.Running(node2) {
			_ = l.Agents.Start(node2)
		}
	})
	if err := l.Agents.Stop(node2); err != nil {
		t.Fatal(err)
	}
	e2eutil.Consistently(t, 5*time.Second, 500*time.Millisecond, "routes kept while "+node2.Name+"'s agent is down", func() error {
		return checkRoutes(ctx, l, node1, nil)
	})
	if err := l.Agents.Start(node2); err != nil {
		t.Fatal(err)
	}
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up everywhere after the restart", func() error { return checkAll(ctx, l) })
	time.Sleep(time.Second)
	count, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pings across the restart: %s", count)
	if count.Sent < 100 || len(count.Lost) > 0 {
		t.Errorf("pings across the restart: %s, want at least 100 sent and none lost", count)
	}
}
