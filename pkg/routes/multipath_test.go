package routes

import "testing"

// A prefix wanted via next hops on two links becomes one multipath route in
// the real kernel, which a second Sync leaves alone; when one next hop goes,
// a plain route replaces it.
func TestSyncInstallsAMultipathRouteAndFallsBackToOneNextHop(t *testing.T) {
	ns := newNS(t).WithNode(t)
	ns.IP(t, "link", "add", "veth2", "type", "veth", "peer", "name", "veth3")
	ns.IP(t, "addr", "add", "10.252.0.1/24", "dev", "veth2")
	ns.IP(t, "addr", "add", "2001:db8:252::1/64", "dev", "veth2", "nodad")
	ns.IP(t, "link", "set", "veth3", "addrgenmode", "none")
	ns.IP(t, "link", "set", "veth3", "up")
	ns.IP(t, "link", "set", "veth2", "up")
	r := nodeReconciler(t, ns)

	both := []Route{
		route("10.251.1.0/24", "10.252.0.2"), route("10.251.1.0/24", "10.250.0.2"),
		route("fd00:251:1::/64", "2001:db8:252::2"), route("fd00:251:1::/64", "2001:db8:250::2"),
	}
	checkResult(t, mustSync(t, r, both, true), SyncResult{Added: 2})
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24",
		"nexthop via 10.250.0.2 dev veth0 weight 1",
		"nexthop via 10.252.0.2 dev veth2 weight 1")
	wantLines(t, "ip -6 route show proto 78", ns.IP(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 metric 1024 pref medium",
		"nexthop via 2001:db8:250::2 dev veth0 weight 1",
		"nexthop via 2001:db8:252::2 dev veth2 weight 1")
	checkResult(t, mustSync(t, r, both, true), SyncResult{Unchanged: 2})

	one := []Route{route("10.251.1.0/24", "10.250.0.2"), route("fd00:251:1::/64", "2001:db8:252::2")}
	checkResult(t, mustSync(t, r, one, true), SyncResult{Replaced: 2})
	wantLines(t, "ip route show proto 78", ns.IP(t, "route", "show", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0")
	wantLines(t, "ip -6 route show proto 78", ns.IP(t, "-6", "route", "show", "proto", "78"),
		"fd00:251:1::/64 via 2001:db8:252::2 dev veth2 metric 1024 pref medium")
	checkResult(t, mustSync(t, r, one, true), SyncResult{Unchanged: 2})
}
