//go:build e2e

package ecmp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// routeWait bounds a wait for a route change the agents should make within
// a BGP update and a sync period.
const routeWait = 30 * time.Second

// testSessions: each node has both ToRs as Established neighbors, and each
// ToR has both nodes Established in their own AS.
func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	for _, n := range l.Nodes {
		e2eutil.LogStep(t, "%s: gobgp -j neighbor shows %v Established", n.Name, torAddrs(n))
		e2eutil.Eventually(t, routeWait, time.Second, n.Name+" sessions", func() error {
			return checkNodeSessions(ctx, l, n)
		})
	}
	for _, tor := range l.ToRs {
		e2eutil.LogStep(t, "%s: show bgp neighbors has every node Established in its own AS", tor.Name)
		e2eutil.Eventually(t, routeWait, time.Second, tor.Name+" sessions", func() error {
			return checkToRSessions(ctx, l, tor)
		})
	}
}

// testPodCIDRs: both ToRs pass each node's pod CIDR to the other node with
// the owner's own address as next hop (same subnet): two paths, one next
// hop, so one plain route via the owner, not a multipath route over the
// same gateway twice.
func testPodCIDRs(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	for _, n := range l.Nodes {
		for _, other := range l.Nodes {
			if other == n {
				continue
			}
			e2eutil.LogStep(t, "%s: one route to %s via %s (%s)", n.Name, other.PodCIDR, other.IP, other.Name)
			e2eutil.Eventually(t, routeWait, 500*time.Millisecond, n.Name+" route to "+other.PodCIDR.String(), func() error {
				return checkRoute(ctx, n.Netns, other.PodCIDR, other.IP)
			})
		}
	}
}

// testMultipath: with both ToRs announcing the upstream prefix, every node
// installs one route to it, multipath over both ToR addresses.
func testMultipath(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	for _, tor := range l.ToRs {
		announce(ctx, t, l, tor)
	}
	for _, n := range l.Nodes {
		e2eutil.LogStep(t, "%s: one route to %s, multipath over %v", n.Name, upstream, torAddrs(n))
		took := e2eutil.Eventually(t, routeWait, 250*time.Millisecond, n.Name+" multipath route", func() error {
			return checkRoute(ctx, n.Netns, upstream, torAddrs(n)...)
		})
		routes, _ := e2eutil.KernelRoutes(ctx, n.Netns)
		t.Logf("%s: %s %v within %s", n.Name, upstream, routes[upstream], took.Round(10*time.Millisecond))
	}
}

// testWithdraw: ToR 1 withdraws the prefix: every node keeps a plain route
// via ToR 2, and keeps it; ToR 1 announces it again: multipath again.
func testWithdraw(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	tor1, tor2 := l.ToRs[0], l.ToRs[1]
	announce(ctx, t, l, tor1)
	announce(ctx, t, l, tor2)
	waitMultipath(ctx, t, l)

	e2eutil.LogStep(t, "%s withdraws %s", tor1.Name, upstream)
	if err := tor1.Withdraw(ctx, upstream); err != nil {
		t.Fatal(err)
	}
	waitSinglePath(ctx, t, l, tor2)
	for _, n := range l.Nodes {
		via := lab.ToRAddr(tor2.Number, n.Rack)
		e2eutil.LogStep(t, "%s keeps the single path via %s for a sync period and a second", n.Name, via)
		e2eutil.Consistently(t, syncPeriod+time.Second, 250*time.Millisecond, n.Name+" single path", func() error {
			return checkRoute(ctx, n.Netns, upstream, via)
		})
	}

	announce(ctx, t, l, tor1)
	waitMultipath(ctx, t, l)
}

// testToRRestart: ToR 1's bgpd restarts and forgets the prefix (it was in
// the running config only). Once it is back and has sent End-of-RIB without
// the prefix, the nodes drop its (stale, under graceful restart) path: a
// single path via ToR 2. Announced again: multipath.
func testToRRestart(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	tor1, tor2 := l.ToRs[0], l.ToRs[1]
	announce(ctx, t, l, tor1)
	announce(ctx, t, l, tor2)
	waitMultipath(ctx, t, l)

	e2eutil.LogStep(t, "%s: bgpd restarts (killed, started again) and forgets %s", tor1.Name, upstream)
	start := time.Now()
	if err := tor1.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The blackhole ToR.Announce left in the ToR's kernel goes too.
	if err := tor1.Withdraw(ctx, upstream); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		e2eutil.LogStep(t, "%s: sessions with both ToRs Established again", n.Name)
		e2eutil.Eventually(t, time.Minute, time.Second, n.Name+" sessions", func() error {
			return checkNodeSessions(ctx, l, n)
		})
	}
	waitSinglePath(ctx, t, l, tor2)
	t.Logf("restart: single path via %s %s after the restart began", tor2.Name, time.Since(start).Round(100*time.Millisecond))

	announce(ctx, t, l, tor1)
	waitMultipath(ctx, t, l)
}

// announce makes tor originate the upstream prefix until the test ends.
func announce(ctx context.Context, t *testing.T, l *lab.Lab, tor *lab.ToR) {
	t.Helper()
	e2eutil.LogStep(t, "%s announces %s", tor.Name, upstream)
	if err := tor.Announce(ctx, upstream); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e2eutil.CmdTimeout)
		defer cancel()
		if err := tor.Withdraw(ctx, upstream); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// waitMultipath waits until every node has one route to the upstream
// prefix, multipath over both ToRs.
func waitMultipath(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range l.Nodes {
		e2eutil.LogStep(t, "%s: one route to %s, multipath over %v", n.Name, upstream, torAddrs(n))
		e2eutil.Eventually(t, routeWait, 250*time.Millisecond, n.Name+" multipath route", func() error {
			return checkRoute(ctx, n.Netns, upstream, torAddrs(n)...)
		})
	}
}

// waitSinglePath waits until every node has one plain route to the upstream
// prefix via tor.
func waitSinglePath(ctx context.Context, t *testing.T, l *lab.Lab, tor *lab.ToR) {
	t.Helper()
	for _, n := range l.Nodes {
		via := lab.ToRAddr(tor.Number, n.Rack)
		e2eutil.LogStep(t, "%s: one plain route to %s via %s (%s)", n.Name, upstream, via, tor.Name)
		took := e2eutil.Eventually(t, time.Minute, 250*time.Millisecond, n.Name+" single path", func() error {
			return checkRoute(ctx, n.Netns, upstream, via)
		})
		t.Logf("%s: single path within %s", n.Name, took.Round(10*time.Millisecond))
	}
}

// checkNodeSessions fails unless node's GoBGP has both its ToRs Established.
func checkNodeSessions(ctx context.Context, l *lab.Lab, node *lab.Node) error {
	return e2eutil.CheckEstablished(ctx, l, node, torAddrs(node)...)
}

// checkToRSessions fails unless tor has every node Established in its own AS.
func checkToRSessions(ctx context.Context, l *lab.Lab, tor *lab.ToR) error {
	nbs, err := tor.Neighbors(ctx)
	if err != nil {
		return err
	}
	for _, n := range l.Nodes {
		found := false
		for _, nb := range nbs {
			if nb.Address != n.IP {
				continue
			}
			found = true
			if !nb.Established() || nb.RemoteAS != nodeASN(n.Number) {
				return fmt.Errorf("%s: neighbor %s (%s) is %s in AS %d, want Established in AS %d", tor.Name, n.IP, n.Name, nb.State, nb.RemoteAS, nodeASN(n.Number))
			}
		}
		if !found {
			return fmt.Errorf("%s has no neighbor %s (%s)", tor.Name, n.IP, n.Name)
		}
	}
	return nil
}
