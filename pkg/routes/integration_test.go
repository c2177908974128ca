package routes

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// These tests drive the real kernel in a namespace made by withNode.

func nodeReconciler(t *testing.T, ns testNS) *Reconciler {
	return NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: ns.kernel(t)})
}

func mustSync(t *testing.T, r *Reconciler, desired []Route, prune bool) SyncResult {
	t.Helper()
	res, err := r.Sync(desired, prune)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// wantLines fails unless out has exactly these lines (trailing spaces and
// order ignored).
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			got[l] = true
		}
	}
	ok := len(got) == len(want)
	for _, w := range want {
		ok = ok && got[w]
	}
	if !ok {
		t.Errorf("%s:\n%s\nwant exactly:\n%s", what, out, strings.Join(want, "\n"))
	}
}

var nodeRoutes = []Route{
	route("10.251.1.0/24", "10.250.0.2"),
	route("10.251.2.0/24", "10.250.0.3"),
	route("fd00:251:1::/64", "2001:db8:250::2"),
}

func TestSyncInstallsRoutesWithOurProtocol(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)

	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Added: 3})
	wantLines(t, "ip route show proto 78", ns.ip(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.ip(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:250::2 dev veth0 metric 1024 pref medium")

	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Unchanged: 3})
}

func TestSyncReplacesAndPrunesInTheKernel(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)
	mustSync(t, r, nodeRoutes, true)

	moved := []Route{route("10.251.1.0/24", "10.250.0.9"), route("fd00:251:1::/64", "2001:db8:250::9")}
	checkResult(t, mustSync(t, r, moved, false), SyncResult{Replaced: 2})
	wantLines(t, "ip route show proto 78 without pruning", ns.ip(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.9 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")

	checkResult(t, mustSync(t, r, moved, true), SyncResult{Deleted: 1, Unchanged: 2})
	wantLines(t, "ip route show proto 78 after pruning", ns.ip(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.9 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.ip(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:250::9 dev veth0 metric 1024 pref medium")
}

func TestSyncRestoresARouteDeletedByHand(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)
	mustSync(t, r, nodeRoutes, true)

	ns.ip(t, "route", "del", "10.251.1.0/24")
	ns.ip(t, "-6", "route", "del", "fd00:251:1::/64")
	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Added: 2, Unchanged: 1})
	wantLines(t, "ip route show proto 78", ns.ip(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
}

func TestSyncRestoresRoutesAfterLinkDownAndUp(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)
	v4 := nodeRoutes[:2]
	mustSync(t, r, v4, true)

	ns.ip(t, "link", "set", "veth0", "down")
	wantLines(t, "ip route show proto 78 with veth0 down", ns.ip(t, "route", "show", "proto", "78"))
	// While the link is down its next hops are unreachable, not errors.
	checkResult(t, mustSync(t, r, v4, true), SyncResult{Unreachable: v4})

	ns.ip(t, "link", "set", "veth0", "up")
	checkResult(t, mustSync(t, r, v4, true), SyncResult{Added: 2})
	wantLines(t, "ip route show proto 78 with veth0 up again", ns.ip(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
}

func TestSyncLeavesForeignRoutesAlone(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)
	ns.ip(t, "route", "add", "10.251.1.0/24", "via", "10.250.0.7", "proto", "static")
	ns.ip(t, "route", "add", "10.251.9.0/24", "via", "10.250.0.7")

	got := mustSync(t, r, nodeRoutes, true)
	checkResult(t, got, SyncResult{Added: 2, Foreign: []Route{nodeRoutes[0]}})
	checkResult(t, mustSync(t, r, nil, true), SyncResult{Deleted: 2})
	wantLines(t, "ip route show (everything)", ns.ip(t, "route", "show"),
		"10.250.0.0/24 dev veth0 proto kernel scope link src 10.250.0.1",
		"10.251.1.0/24 via 10.250.0.7 dev veth0 proto static",
		"10.251.9.0/24 via 10.250.0.7 dev veth0")
}

func TestSyncReportsUnreachableNextHops(t *testing.T) {
	ns := newNS(t).withNode(t)
	r := nodeReconciler(t, ns)
	off := []Route{route("10.251.5.0/24", "10.99.0.1"), route("10.251.6.0/24", "127.0.0.5"), route("10.251.7.0/24", "10.250.0.1")}
	checkResult(t, mustSync(t, r, off, true), SyncResult{Unreachable: off})
	wantLines(t, "ip route show proto 78", ns.ip(t, "route", "show", "proto", "78"))
}

func TestCleanupDeletesOnlyOurRoutes(t *testing.T) {
	ns := newNS(t).withNode(t)
	mustSync(t, nodeReconciler(t, ns), nodeRoutes, true)
	other := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: ns.kernel(t), Table: 100})
	mustSync(t, other, []Route{route("10.251.3.0/24", "10.250.0.2")}, true)
	ns.ip(t, "route", "add", "10.251.8.0/24", "via", "10.250.0.8", "proto", "static")
	ns.ip(t, "route", "add", "10.251.9.0/24", "via", "10.250.0.9")
	ns.ip(t, "-6", "route", "add", "fd00:251:9::/64", "via", "2001:db8:250::9")

	var n int
	var err error
	ns.do(t, func() { n, err = Cleanup(quietLogger()) })
	if err != nil || n != 4 {
		t.Fatalf("Cleanup = %d, %v; want 4 routes deleted", n, err)
	}
	wantLines(t, "ip route show table all proto 78", ns.ip(t, "route", "show", "table", "all", "proto", "78"))
	wantLines(t, "ip -6 route show table all proto 78", ns.ip(t, "-6", "route", "show", "table", "all", "proto", "78"))
	wantLines(t, "ip route show (everything)", ns.ip(t, "route", "show"),
		"10.250.0.0/24 dev veth0 proto kernel scope link src 10.250.0.1",
		"10.251.8.0/24 via 10.250.0.8 dev veth0 proto static",
		"10.251.9.0/24 via 10.250.0.9 dev veth0")
	if out := ns.ip(t, "-6", "route", "show", "fd00:251:9::/64"); !strings.Contains(out, "via 2001:db8:250::9") {
		t.Errorf("Cleanup deleted a foreign IPv6 route: ip -6 route show fd00:251:9::/64 = %q", out)
	}
}

func TestMTUForAddress(t *testing.T) {
	ns := newNS(t).withNode(t)
	tests := []struct {
		addr     string
		wantMTU  int
		wantLink string
		wantErr  string
	}{
		{addr: "10.250.0.1", wantMTU: 1450, wantLink: "veth0"},
		{addr: "2001:db8:250::1", wantMTU: 1450, wantLink: "veth0"},
		{addr: "127.0.0.1", wantErr: "loopback"},
		{addr: "10.250.0.99", wantErr: "no link has address 10.250.0.99"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			var mtu int
			var link string
			var err error
			ns.do(t, func() { mtu, link, err = MTUForAddress(netip.MustParseAddr(tc.addr)) })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("MTUForAddress(%s) = %d, %q, %v; want an error containing %q", tc.addr, mtu, link, err, tc.wantErr)
				}
				return
			}
			if err != nil || mtu != tc.wantMTU || link != tc.wantLink {
				t.Errorf("MTUForAddress(%s) = %d, %q, %v; want %d, %q", tc.addr, mtu, link, err, tc.wantMTU, tc.wantLink)
			}
		})
	}
}

func TestEnableForwardingInANamespace(t *testing.T) {
	ns := newNS(t).withNode(t)
	var err error
	ns.do(t, func() {
		// Guard: this thread must see the namespace's sysctls, not the
		// host's, before we write any. veth0 exists only in the namespace.
		if _, statErr := os.Stat("/proc/sys/net/ipv4/conf/veth0"); statErr != nil {
			err = fmt.Errorf("not inside the namespace's /proc/sys/net: %w", statErr)
			return
		}
		err = EnableForwarding(true, true)
	})
	if err != nil {
		t.Fatalf("EnableForwarding: %v", err)
	}
	for _, key := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		out := run(t, "ip", "netns", "exec", ns.name, "cat", key)
		if strings.TrimSpace(out) != "1" {
			t.Errorf("%s in the namespace = %q, want 1", key, out)
		}
	}
}
