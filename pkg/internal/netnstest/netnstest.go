// Package netnstest gives integration tests a throwaway network namespace
// that looks like a node, and a way to run code inside it. The tests of
// pkg/routes and pkg/hostnet use it to drive the real kernel without
// touching the host's own network.
package netnstest

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

// RemoveLeftovers deletes the namespaces whose names start with prefix: those
// an earlier run that crashed left behind. Call it from TestMain; it does
// nothing without root.
func RemoveLeftovers(prefix string) {
	if os.Geteuid() != 0 {
		return
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, prefix) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
}

var count atomic.Int32

// NS is a network namespace, deleted when the test ends.
type NS struct {
	Name   string
	Handle netns.NsHandle
}

// New creates a namespace named with prefix, the pid and a counter, and
// deletes it when the test ends. It skips the test without root.
func New(tb testing.TB, prefix string) NS {
	tb.Helper()
	RequireRoot(tb)
	name := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), count.Add(1))
	Run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { Run(tb, "ip", "netns", "del", name) })
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatalf("opening namespace %s: %v", name, err)
	}
	tb.Cleanup(func() { h.Close() })
	return NS{Name: name, Handle: h}
}

// IP runs an ip(8) command inside the namespace and returns its output.
func (ns NS) IP(tb testing.TB, args ...string) string {
	tb.Helper()
	return Run(tb, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Run runs a command and returns its combined output; it fails the test if
// the command fails.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WithNode gives the namespace what a node has: the loopback up, and veth0
// (MTU 1450) on 10.250.0.0/24 and 2001:db8:250::/64, whose peer veth1 is up
// so that veth0 has a carrier. veth1 has no addresses at all, not even a
// link-local one, so that its going up or down makes link events only.
func (ns NS) WithNode(tb testing.TB) NS {
	tb.Helper()
	ns.IP(tb, "link", "set", "lo", "up")
	ns.IP(tb, "link", "add", "veth0", "mtu", "1450", "type", "veth", "peer", "name", "veth1")
	ns.IP(tb, "addr", "add", "10.250.0.1/24", "dev", "veth0")
	ns.IP(tb, "addr", "add", "2001:db8:250::1/64", "dev", "veth0", "nodad")
	ns.IP(tb, "link", "set", "veth1", "addrgenmode", "none")
	ns.IP(tb, "link", "set", "veth1", "up")
	ns.IP(tb, "link", "set", "veth0", "up")
	return ns
}

// Do runs f on a thread inside the namespace, for the functions that act on
// the current namespace. The thread stays locked and so dies with its
// goroutine: it never goes back to Go's pool still inside the namespace.
// f runs on another goroutine, so it reports with Errorf, not Fatal.
func (ns NS) Do(tb testing.TB, f func()) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		runtime.LockOSThread()
		if err = netns.Set(ns.Handle); err != nil {
			return
		}
		f()
	}()
	if err := <-done; err != nil {
		tb.Fatalf("entering namespace %s: %v", ns.Name, err)
	}
}
