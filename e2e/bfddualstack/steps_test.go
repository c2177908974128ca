//go:build e2e

package bfddualstack

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	sessionWait = 90 * time.Second
	// maxFailover: 3 x 300 ms, a BGP-only pass, the route sync and a
	// loaded machine's jitter (as e2e/bfd).
	maxFailover = 1500 * time.Millisecond
	pollEvery   = 20 * time.Millisecond
)

// checkBFD: node has one BFD session per family with every other node,
// each Up.
func checkBFD(ctx context.Context, l *lab.Lab, node *lab.Node) error {
	st, err := e2eutil.BFDStates(ctx, node)
	if err != nil {
		return err
	}
	if want := 2 * (len(l.Nodes) - 1); len(st) != want {
		return fmt.Errorf("%s: %d BFD sessions %v, want %d", node.Name, len(st), st, want)
	}
	for _, o := range l.Nodes {
		if o == node {
			continue
		}
		for _, a := range []string{o.IP.String(), o.IP6.String()} {
			if st[a] != "Up" {
				return fmt.Errorf("%s: BFD with %s (%s) is %q: %v", node.Name, o.Name, a, st[a], st)
			}
		}
	}
	return nil
}

// checkRoutes: node routes the other nodes' pod CIDRs of both families via
// their node IPs; with v6Gone, the IPv6 one of other must be absent.
func checkRoutes(ctx context.Context, l *lab.Lab, node, other *lab.Node, v6Gone bool) error {
	routes, err := e2eutil.KernelRoutes(ctx, node.Netns)
	if err != nil {
		return err
	}
	if !routes[other.PodCIDR].Is(other.IP) {
		return fmt.Errorf("%s: %s is %v, want via %s", node.Name, other.PodCIDR, routes[other.PodCIDR], other.IP)
	}
	r6, ok := routes[other.PodCIDR6]
	switch {
	case v6Gone && ok:
		return fmt.Errorf("%s: still routes %s %v", node.Name, other.PodCIDR6, r6)
	case !v6Gone && !r6.Is(other.IP6):
		return fmt.Errorf("%s: %s is %v, want via %s", node.Name, other.PodCIDR6, r6, other.IP6)
	}
	return nil
}

func checkAll(ctx context.Context, l *lab.Lab) error {
	for _, n := range l.Nodes {
		if err := checkBFD(ctx, l, n); err != nil {
			return err
		}
		for _, o := range l.Nodes {
			if o != n {
				if err := checkRoutes(ctx, l, n, o, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	e2eutil.LogStep(t, "every node's /metrics shows BFD Up with every other node on its IPv4 and its IPv6 address; routes of both families in place")
	took := e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up on both families", func() error { return checkAll(ctx, l) })
	st, _ := e2eutil.BFDStates(ctx, l.Nodes[0])
	t.Logf("%s's BFD sessions %v, all in place %s into the step", l.Nodes[0].Name, st, took.Round(time.Millisecond))
}

// blockIPv6 makes node drop every IPv6 packet to and from peer's IPv6
// address (ip6tables in node's namespace), or lifts that: a fault of the
// IPv6 path alone, with no Cease and no BFD AdminDown.
func blockIPv6(ctx context.Context, node, peer *lab.Node, on bool) error {
	op := "-I"
	if !on {
		op = "-D"
	}
	for _, r := range [][]string{{"INPUT", "-s", peer.IP6.String()}, {"OUTPUT", "-d", peer.IP6.String()}} {
		args := append([]string{"netns", "exec", node.Netns, "ip6tables", op}, append(r, "-j", "DROP")...)
		if _, err := e2eutil.Run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func testIPv6Fault(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up on both families", func() error { return checkAll(ctx, l) })
	n1, n2 := l.Nodes[0], l.Nodes[1]
	blocked := true
	t.Cleanup(func() {
		if blocked {
			_ = blockIPv6(context.Background(), n2, n1, false)
		}
	})

	e2eutil.LogStep(t, "%s drops all IPv6 with %s: %s must leave %s's kernel within %s, %s stay",
		n2.Name, n1.Name, n2.PodCIDR6, n1.Name, maxFailover, n2.PodCIDR)
	fault := time.Now()
	if err := blockIPv6(ctx, n2, n1, true); err != nil {
		t.Fatal(err)
	}
	e2eutil.Eventually(t, 10*time.Second, pollEvery, n2.PodCIDR6.String()+" out of "+n1.Name, func() error {
		return checkRoutes(ctx, l, n1, n2, true)
	})
	gone := time.Since(fault)
	t.Logf("IPv6 fault -> %s out of %s's kernel: %s (BFD 300ms x 3)", n2.PodCIDR6, n1.Name, gone.Round(time.Millisecond))
	if gone > maxFailover {
		t.Errorf("IPv6 fault -> route gone took %s, want within %s", gone, maxFailover)
	}
	st, err := e2eutil.BFDStates(ctx, n1)
	if err != nil {
		t.Fatal(err)
	}
	if st[n2.IP6.String()] == "Up" || st[n2.IP.String()] != "Up" {
		t.Errorf("%s's BFD during the IPv6 fault: %v, want %s not Up and %s Up", n1.Name, st, n2.IP6, n2.IP)
	}
	e2eutil.LogStep(t, "held down: the IPv6 session stays down while its BFD is down; IPv4 untouched")
	e2eutil.Consistently(t, 2*time.Second, 250*time.Millisecond, "IPv6 route gone, IPv4 route kept", func() error {
		return checkRoutes(ctx, l, n1, n2, true)
	})
	log, err := e2eutil.Output(ctx, "cat", l.Agents.Log(n1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, `msg="BFD session Down" node=`+n1.Name+` component=bfd event=bfd-state peer=`+n2.IP6.String()) {
		t.Errorf("%s's log has no BFD Down line for %s", n1.Name, n2.IP6)
	}

	e2eutil.LogStep(t, "the IPv6 path heals: the IPv6 session and routes come back")
	if err := blockIPv6(ctx, n2, n1, false); err != nil {
		t.Fatal(err)
	}
	blocked = false
	back := e2eutil.Eventually(t, 30*time.Second, pollEvery, "IPv6 routes back", func() error {
		for _, n := range l.Nodes {
			for _, o := range l.Nodes {
				if o != n {
					if err := checkRoutes(ctx, l, n, o, false); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	t.Logf("heal -> IPv6 routes back everywhere: %s", back.Round(time.Millisecond))
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, "BFD Up on both families", func() error { return checkAll(ctx, l) })
}
