//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	podBridge = "nodebgp0"
	// A route and a chain that are not ours: cleanup must leave them.
	foreignRoute = "10.250.0.0/24"
	foreignChain = "E2E-NOT-OURS"
)

// testCleanup: `router cleanup`, run on node1 after its agent stopped,
// removes every route of proto 78, the NODEBGP chains, the conflist and the
// pod bridge, and nothing that is not the agent's. It leaves node1 without
// networking for its pod, so it runs last.
func testCleanup(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	node1, node2 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2)

	e2eutil.LogStep(t, "before: %s has routes of proto %s, NODEBGP chains, %s and bridge %s", node1.Name, e2eutil.RouteProto, lab.ConflistName, podBridge)
	e2eutil.Eventually(t, routeWait, 500*time.Millisecond, "the agent's state on "+node1.Name, func() error {
		return agentLeftovers(ctx, node1, true)
	})

	e2eutil.LogStep(t, "add what is not ours: route %s proto static, iptables chain %s", foreignRoute, foreignChain)
	e2eutil.MustRun(ctx, t, "ip", "-n", node1.Netns, "route", "add", foreignRoute, "via", node2.IP.String(), "proto", "static")
	e2eutil.MustRun(ctx, t, "ip", "netns", "exec", node1.Netns, "iptables", "-w", "5", "-N", foreignChain)

	e2eutil.LogStep(t, "SIGTERM %s's agent", node1.Name)
	if err := l.Agents.Stop(node1); err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "ip netns exec %s router cleanup --cni-conf-dir %s", node1.Netns, node1.ConfDir)
	out, err := e2eutil.InNs(ctx, node1.Netns, l.Tools.Router, "cleanup", "--cni-conf-dir", node1.ConfDir)
	t.Logf("router cleanup:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}

	e2eutil.LogStep(t, "after: no route of proto %s, no NODEBGP chain, no %s, no bridge %s", e2eutil.RouteProto, lab.ConflistName, podBridge)
	if err := agentLeftovers(ctx, node1, false); err != nil {
		t.Error(err)
	}

	e2eutil.LogStep(t, "what is not ours is still there: route %s, chain %s, eth0's address %s", foreignRoute, foreignChain, node1.IP)
	if out, err := e2eutil.Run(ctx, "ip", "-n", node1.Netns, "route", "show", foreignRoute); err != nil || !strings.Contains(out, foreignRoute) {
		t.Errorf("cleanup removed route %s, which is not the agent's: %q %v", foreignRoute, out, err)
	}
	if _, err := e2eutil.Run(ctx, "ip", "netns", "exec", node1.Netns, "iptables", "-w", "5", "-S", foreignChain); err != nil {
		t.Errorf("cleanup removed chain %s, which is not the agent's: %v", foreignChain, err)
	}
	if out, err := e2eutil.Run(ctx, "ip", "-n", node1.Netns, "-br", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, node1.IP.String()) {
		t.Errorf("eth0 lost %s: %q %v", node1.IP, out, err)
	}
}

// agentLeftovers checks node for everything the agent makes: with present
// it wants each one there, else each one gone. The error lists every miss.
func agentLeftovers(ctx context.Context, node *lab.Node, present bool) error {
	var errs []error
	expect := func(what string, there bool) {
		if there != present {
			state := "missing"
			if there {
				state = "left behind"
			}
			errs = append(errs, fmt.Errorf("%s: %s %s", node.Name, what, state))
		}
	}
	routes, err := e2eutil.KernelRoutes(ctx, node.Netns)
	if err != nil {
		return err
	}
	expect(fmt.Sprintf("routes of proto %s (%v)", e2eutil.RouteProto, routes), len(routes) > 0)

	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		rules, err := e2eutil.Output(ctx, "ip", "netns", "exec", node.Netns, save)
		if err != nil {
			if save == "ip6tables-save" {
				continue // no IPv6 tables on this host: nothing to leave behind
			}
			return err
		}
		var ours []string
		for _, line := range strings.Split(rules, "\n") {
			if strings.Contains(line, "NODEBGP") {
				ours = append(ours, line)
			}
		}
		if save == "iptables-save" || !present {
			expect(fmt.Sprintf("%s NODEBGP chains and jumps %q", save, ours), len(ours) > 0)
		}
	}

	conflist := filepath.Join(node.ConfDir, lab.ConflistName)
	_, statErr := os.Stat(conflist)
	if statErr != nil && !errors.Is(statErr, os.ErrNotExist) {
		return statErr
	}
	expect(conflist, statErr == nil)

	_, linkErr := e2eutil.Run(ctx, "ip", "-n", node.Netns, "link", "show", "dev", podBridge)
	expect("bridge "+podBridge, linkErr == nil)
	return errors.Join(errs...)
}
