//go:build e2e

package dualstack

import (
	"testing"

	"github.com/nodebgp/router/e2e/lab"
)

// nodeNumbered returns the lab's node n with its pod, failing the test if
// either is missing.
func nodeNumbered(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	node := l.NodeByName(lab.NodeName(n))
	if node == nil || node.Pod == nil {
		t.Fatalf("the lab has no %s with a pod", lab.NodeName(n))
	}
	return node
}
