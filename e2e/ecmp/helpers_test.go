//go:build e2e

package ecmp

import (
	"testing"

	"github.com/nodebgp/router/e2e/lab"
)

// node returns the lab's node n, failing the test if there is none.
func node(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	nd := l.NodeByName(lab.NodeName(n))
	if nd == nil {
		t.Fatalf("the lab has no %s", lab.NodeName(n))
	}
	if nd.Pod == nil {
		t.Fatalf("%s has no pod", nd.Name)
	}
	return nd
}
