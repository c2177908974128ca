package routes

import (
	"context"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// These tests drive the real kernel in a namespace made by netnstest.NS.WithNode.

func nodeReconciler(t *testing.T, ns netnstest.NS) *Reconciler {
	return NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: nsKernel(t, ns)})
}

func mustSync(t *testing.T, r *Reconciler, desired []Route, prune bool) SyncResult {
	t.Helper()
	res, err := r.Sync(context.Background(), desired, prune)
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
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)

	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Added: 3})
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.IP(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:250::2 dev veth0 metric 1024 pref medium")

	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Unchanged: 3})
}

func TestSyncReplacesAndPrunesInTheKernel(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	mustSync(t, r, nodeRoutes, true)

	// A restarted agent (a new Reconciler) keeps the routes it has not
	// routed yet until it may prune.
	r = nodeReconciler(t, ns)
	moved := []Route{route("10.251.1.0/24", "10.250.0.9"), route("fd00:251:1::/64", "2001:db8:250::9")}
	checkResult(t, mustSync(t, r, moved, false), SyncResult{Replaced: 2})
	wantLines(t, "ip route show proto 78 without pruning", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.9 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")

	checkResult(t, mustSync(t, r, moved, true), SyncResult{Deleted: 1, Unchanged: 2})
	wantLines(t, "ip route show proto 78 after pruning", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.9 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.IP(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:250::9 dev veth0 metric 1024 pref medium")
}

func TestSyncRestoresARouteDeletedByHand(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	mustSync(t, r, nodeRoutes, true)

	ns.IP(t, "route", "del", "10.251.1.0/24")
	ns.IP(t, "-6", "route", "del", "fd00:251:1::/64")
	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Added: 2, Unchanged: 1})
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
}

func TestSyncRestoresRoutesAfterLinkDownAndUp(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	v4 := nodeRoutes[:2]
	mustSync(t, r, v4, true)

	ns.IP(t, "link", "set", "veth0", "down")
	wantLines(t, "ip route show proto 78 with veth0 down", ns.IP(t, "route", "show", "proto", "78"))
	// While the link is down its next hops are unreachable, not errors.
	checkResult(t, mustSync(t, r, v4, true), SyncResult{Unreachable: v4})

	ns.IP(t, "link", "set", "veth0", "up")
	checkResult(t, mustSync(t, r, v4, true), SyncResult{Added: 2})
	wantLines(t, "ip route show proto 78 with veth0 up again", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
}

func TestSyncLeavesForeignRoutesAlone(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	ns.IP(t, "route", "add", "10.251.1.0/24", "via", "10.250.0.7", "proto", "static")
	ns.IP(t, "route", "add", "10.251.9.0/24", "via", "10.250.0.7")

	got := mustSync(t, r, nodeRoutes, true)
	checkResult(t, got, SyncResult{Added: 2, Foreign: []Route{nodeRoutes[0]}})
	checkResult(t, mustSync(t, r, nil, true), SyncResult{Deleted: 2})
	wantLines(t, "ip route show (everything)", ns.IP(t, "route", "show"),
		"10.250.0.0/24 dev veth0 proto kernel scope link src 10.250.0.1",
		"10.251.1.0/24 via 10.250.0.7 dev veth0 proto static",
		"10.251.9.0/24 via 10.250.0.7 dev veth0")
}

func TestSyncReportsUnreachableNextHops(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	off := []Route{route("10.251.5.0/24", "10.99.0.1"), route("10.251.6.0/24", "127.0.0.5"), route("10.251.7.0/24", "10.250.0.1")}
	checkResult(t, mustSync(t, r, off, true), SyncResult{Unreachable: off})
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"))
}

func TestCleanupDeletesOnlyOurRoutes(t *testing.T) {
	ns := newNS(t).WithNode(t)
	mustSync(t, nodeReconciler(t, ns), nodeRoutes, true)
	other := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: nsKernel(t, ns), Table: 100})
	mustSync(t, other, []Route{route("10.251.3.0/24", "10.250.0.2")}, true)
	ns.IP(t, "route", "add", "10.251.8.0/24", "via", "10.250.0.8", "proto", "static")
	ns.IP(t, "route", "add", "10.251.9.0/24", "via", "10.250.0.9")
	ns.IP(t, "-6", "route", "add", "fd00:251:9::/64", "via", "2001:db8:250::9")

	var n int
	var err error
	ns.Do(t, func() { n, err = Cleanup(context.Background(), quietLogger()) })
	if err != nil || n != 4 {
		t.Fatalf("Cleanup = %d, %v; want 4 routes deleted", n, err)
	}
	wantLines(t, "ip route show table all proto 78", ns.IP(t, "route", "show", "table", "all", "proto", "78"))
	wantLines(t, "ip -6 route show table all proto 78", ns.IP(t, "-6", "route", "show", "table", "all", "proto", "78"))
	wantLines(t, "ip route show (everything)", ns.IP(t, "route", "show"),
		"10.250.0.0/24 dev veth0 proto kernel scope link src 10.250.0.1",
		"10.251.8.0/24 via 10.250.0.8 dev veth0 proto static",
		"10.251.9.0/24 via 10.250.0.9 dev veth0")
	if out := ns.IP(t, "-6", "route", "show", "fd00:251:9::/64"); !strings.Contains(out, "via 2001:db8:250::9") {
		t.Errorf("Cleanup deleted a foreign IPv6 route: ip -6 route show fd00:251:9::/64 = %q", out)
	}
}

func TestAnyOursSeesOurRoutesInAnyTableAndNoOneElses(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	ns.IP(t, "route", "add", "10.251.8.0/24", "via", "10.250.0.8", "proto", "static")
	ns.IP(t, "-6", "route", "add", "fd00:251:9::/64", "via", "2001:db8:250::9")
	if any, err := r.AnyOurs(); any || err != nil {
		t.Fatalf("AnyOurs with only others' routes = %v, %v; want false", any, err)
	}
	other := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: nsKernel(t, ns), Table: 100})
	mustSync(t, other, []Route{route("10.251.3.0/24", "10.250.0.2")}, true)
	if any, err := r.AnyOurs(); !any || err != nil {
		t.Fatalf("AnyOurs with a route of ours in table 100 = %v, %v; want true", any, err)
	}
}

func TestUpdateChangesSinglePrefixesInTheKernel(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := nodeReconciler(t, ns)
	mustSync(t, r, nodeRoutes, true)
	ns.IP(t, "route", "add", "10.251.9.0/24", "via", "10.250.0.9", "proto", "static")

	changes := []Change{
		change("10.251.3.0/24", "10.250.0.4"),               // new
		change("10.251.1.0/24", "10.250.0.5", "10.250.0.6"), // now multipath
		change("10.251.2.0/24"),                             // withdrawn
		change("fd00:251:1::/64", "2001:db8:250::7"),        // moved
	}
	for pass := 1; pass <= 2; pass++ {
		res, err := r.Update(context.Background(), changes, true)
		if err != nil || res.Resync {
			t.Fatalf("Update pass %d = %+v, %v", pass, res, err)
		}
		want := SyncResult{Added: 1, Replaced: 2, Deleted: 1}
		if pass == 2 {
			want = SyncResult{Unchanged: 3}
		}
		checkResult(t, res, want)
	}
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24",
		"nexthop via 10.250.0.5 dev veth0 weight 1",
		"nexthop via 10.250.0.6 dev veth0 weight 1",
		"10.251.3.0/24 via 10.250.0.4 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.IP(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:250::7 dev veth0 metric 1024 pref medium")

	// A prefix held by a route we did not make: the kernel refuses the add,
	// the foreign route stays, and Update asks for a full Sync.
	res, err := r.Update(context.Background(), []Change{change("10.251.9.0/24", "10.250.0.4")}, true)
	if err != nil || !res.Resync || res.Added != 0 {
		t.Fatalf("Update onto a foreign route = %+v, %v; want Resync and nothing added", res, err)
	}
	wantLines(t, "ip route show proto static", ns.IP(t, "route", "show", "proto", "static"),
		"10.251.9.0/24 via 10.250.0.9 dev veth0")
}
