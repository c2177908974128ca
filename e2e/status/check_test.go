//go:build e2e

package status

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// TestRouterCheck: `router check` reports nothing on a healthy lab, finds a
// session broken on purpose (a node's agent stopped) on both of its peers
// and exits non-zero, and is quiet again once the agent is back.
func TestRouterCheck(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 5*time.Minute)
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	check := func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, l.Tools.Router, "check", "--kubeconfig", l.CP.AdminKubeconfig).CombinedOutput()
		return string(out), err
	}
	for _, node := range l.Nodes {
		e2eutil.Eventually(t, 90*time.Second, time.Second, node.Name+" healthy", func() error {
			return checkHealthy(ctx, l, admin, node)
		})
	}

	suite.Step(t, "01 a healthy lab: nothing reported, exit 0", func(t *testing.T) {
		out, err := check()
		if err != nil || !strings.HasPrefix(out, "ok: 3 nodes, 6 sessions established") {
			t.Fatalf("router check: %v\n%s", err, out)
		}
		t.Logf("%s", out)
	})

	suite.Step(t, "02 a session broken on purpose is found on both peers, exit non-zero", func(t *testing.T) {
		down := l.Nodes[2]
		if err := l.Agents.Stop(down); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = l.Agents.Start(down)
			}
		})
		var out string
		e2eutil.Eventually(t, 30*time.Second, time.Second, "router check finding the broken sessions", func() error {
			var err error
			out, err = check()
			if err == nil {
				return fmt.Errorf("exit 0:\n%s", out)
			}
			for _, node := range l.Nodes[:2] {
				want := fmt.Sprintf("%s: session with %s (%s, node) is ", node.Name, down.IP, down.Name)
				if !strings.Contains(out, want) {
					return fmt.Errorf("no %q in:\n%s", want, out)
				}
			}
			return nil
		})
		t.Logf("%s", out)
		if err := l.Agents.Start(down); err != nil {
			t.Fatal(err)
		}
		restarted = true
		e2eutil.Eventually(t, 90*time.Second, 2*time.Second, "router check quiet again", func() error {
			out, err := check()
			if err != nil {
				return fmt.Errorf("%v:\n%s", err, out)
			}
			return nil
		})
	})
}
