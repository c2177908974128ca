//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/nodebgp/router/e2e/lab"
)

// NodeWithPod returns the lab's node n, failing the test unless it exists
// and has its pod.
func NodeWithPod(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	node := l.NodeByName(lab.NodeName(n))
	if node == nil {
		t.Fatalf("the lab has no %s", lab.NodeName(n))
	}
	if node.Pod == nil {
		t.Fatalf("%s has no pod", node.Name)
	}
	return node
}

// DumpIPv6 adds what lab.Dump leaves out of a dual-stack node: its IPv6
// routes and every address. Suites of dual-stack labs use it as DumpExtra.
func DumpIPv6(ctx context.Context, l *lab.Lab, w io.Writer) {
	for _, node := range l.Nodes {
		out, _ := Run(ctx, "ip", "-6", "-n", node.Netns, "route", "show")
		fmt.Fprintf(w, "\n== %s: ip -6 route ==\n%s", node.Name, out)
		out, _ = Run(ctx, "ip", "-n", node.Netns, "addr", "show")
		fmt.Fprintf(w, "\n== %s: ip addr ==\n%s", node.Name, out)
	}
}

// AgentPID is the PID of node's running agent, failing the test when it does
// not run: steps that must not restart an agent compare it before and after.
func AgentPID(t *testing.T, l *lab.Lab, node *lab.Node) int {
	t.Helper()
	p, err := l.Agents.Process(node)
	if err != nil || !p.Alive() {
		t.Fatalf("%s's agent is not running: %v", node.Name, err)
	}
	return p.PID
}
