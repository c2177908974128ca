//go:build e2e

package e2e

import (
	"testing"

	"github.com/nodebgp/router/e2e/lab"
)

// nodeNumbered returns the lab's node n, failing the test if there is none.
func nodeNumbered(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	node := l.NodeByName(lab.NodeName(n))
	if node == nil {
		t.Fatalf("the lab has no %s", lab.NodeName(n))
	}
	return node
}

// podOf returns node's pod, failing the test if it has none.
func podOf(t *testing.T, node *lab.Node) *lab.Pod {
	t.Helper()
	if node.Pod == nil {
		t.Fatalf("%s has no pod", node.Name)
	}
	return node.Pod
}
