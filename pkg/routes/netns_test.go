package routes

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Integration tests run the real code against the real kernel, each in a
// throwaway network namespace named with nsPrefix.
const nsPrefix = "test-routes-"

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		removeLeftoverNamespaces()
	}
	os.Exit(m.Run())
}

// removeLeftoverNamespaces deletes the namespaces an earlier run that
// crashed left behind. Only ours: the names carry our prefix.
func removeLeftoverNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, nsPrefix) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
}

var nsCount atomic.Int32

// testNS is a network namespace, deleted when the test ends.
type testNS struct {
	name   string
	handle netns.NsHandle
}

func newNS(tb testing.TB) testNS {
	tb.Helper()
	requireRoot(tb)
	name := fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsCount.Add(1))
	run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { run(tb, "ip", "netns", "del", name) })
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatalf("opening namespace %s: %v", name, err)
	}
	tb.Cleanup(func() { h.Close() })
	return testNS{name: name, handle: h}
}

// ip runs an ip(8) command inside the namespace and returns its output.
func (ns testNS) ip(tb testing.TB, args ...string) string {
	tb.Helper()
	return run(tb, "ip", append([]string{"-n", ns.name}, args...)...)
}

func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// withNode gives the namespace what a node has: the loopback up, and veth0
// (MTU 1450) on 10.250.0.0/24 and 2001:db8:250::/64, whose peer veth1 is up
// so that veth0 has a carrier. veth1 has no addresses at all, not even a
// link-local one, so that its going up or down makes link events only.
func (ns testNS) withNode(tb testing.TB) testNS {
	tb.Helper()
	ns.ip(tb, "link", "set", "lo", "up")
	ns.ip(tb, "link", "add", "veth0", "mtu", "1450", "type", "veth", "peer", "name", "veth1")
	ns.ip(tb, "addr", "add", "10.250.0.1/24", "dev", "veth0")
	ns.ip(tb, "addr", "add", "2001:db8:250::1/64", "dev", "veth0", "nodad")
	ns.ip(tb, "link", "set", "veth1", "addrgenmode", "none")
	ns.ip(tb, "link", "set", "veth1", "up")
	ns.ip(tb, "link", "set", "veth0", "up")
	return ns
}

// kernel returns the real Kernel inside the namespace, for a Reconciler:
// its sockets belong to the namespace they were opened in.
func (ns testNS) kernel(tb testing.TB) Kernel {
	tb.Helper()
	var k *netlinkKernel
	var err error
	ns.do(tb, func() { k, err = newKernel() })
	if err != nil {
		tb.Fatalf("netlink sockets in %s: %v", ns.name, err)
	}
	tb.Cleanup(k.Close)
	return k
}

// do runs f on a thread inside the namespace, for the functions that act on
// the current namespace. The thread stays locked and so dies with its
// goroutine: it never goes back to Go's pool still inside the namespace.
// f runs on another goroutine, so it reports with Errorf, not Fatal.
func (ns testNS) do(tb testing.TB, f func()) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		runtime.LockOSThread()
		if err = netns.Set(ns.handle); err != nil {
			return
		}
		f()
	}()
	if err := <-done; err != nil {
		tb.Fatalf("entering namespace %s: %v", ns.name, err)
	}
}
