package hostnet

import (
	"os"
	"testing"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// Integration tests run the real code against the real kernel, each in a
// throwaway network namespace named with nsPrefix.
const nsPrefix = "test-hostnet-"

func TestMain(m *testing.M) {
	netnstest.RemoveLeftovers(nsPrefix)
	os.Exit(m.Run())
}

func newNS(tb testing.TB) netnstest.NS { return netnstest.New(tb, nsPrefix) }
