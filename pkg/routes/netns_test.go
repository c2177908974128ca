package routes

import (
	"os"
	"testing"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// Integration tests run the real code against the real kernel, each in a
// throwaway network namespace named with nsPrefix.
const nsPrefix = "test-routes-"

func TestMain(m *testing.M) {
	netnstest.RemoveLeftovers(nsPrefix)
	os.Exit(m.Run())
}

func newNS(tb testing.TB) netnstest.NS { return netnstest.New(tb, nsPrefix) }

// nsKernel returns the real Kernel inside the namespace, for a Reconciler:
// its sockets belong to the namespace they were opened in.
func nsKernel(tb testing.TB, ns netnstest.NS) Kernel {
	tb.Helper()
	var k *netlinkKernel
	var err error
	ns.Do(tb, func() { k, err = newKernel() })
	if err != nil {
		tb.Fatalf("netlink sockets in %s: %v", ns.Name, err)
	}
	tb.Cleanup(k.Close)
	return k
}
