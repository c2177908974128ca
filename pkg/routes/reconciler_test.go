package routes

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// The fake node: eth0 (up) on 10.0.0.0/24 and 2001:db8::/64, eth1 (down) on
// 10.1.0.0/24, eth2 (up) sharing fe80::/64 with eth0, and the loopback.
func fakeNode(t *testing.T) *fakeKernel {
	k := newFakeKernel(t)
	k.addLink(1, "lo", net.FlagUp|net.FlagLoopback, "127.0.0.1/8", "::1/128")
	k.addLink(2, "eth0", net.FlagUp, "10.0.0.1/24", "2001:db8::1/64", "fe80::1/64")
	k.addLink(3, "eth1", 0, "10.1.0.1/24")
	k.addLink(4, "eth2", net.FlagUp, "fe80::4/64")
	return k
}

func route(prefix, gw string) Route {
	return Route{Prefix: netip.MustParsePrefix(prefix), Gateway: netip.MustParseAddr(gw)}
}

// kroute is a kernel route as a dump shows it.
func kroute(prefix, gw string, link int, proto netlink.RouteProtocol) netlink.Route {
	return netlink.Route{
		Dst:       netconv.IPNet(netip.MustParsePrefix(prefix)),
		Gw:        netip.MustParseAddr(gw).AsSlice(),
		LinkIndex: link,
		Protocol:  proto,
	}
}

// multipathKroute is a multipath route of ours as a dump shows it.
func multipathKroute(prefix string, link int, gws ...string) netlink.Route {
	r := netlink.Route{Dst: netconv.IPNet(netip.MustParsePrefix(prefix)), Protocol: Protocol}
	for _, gw := range gws {
		r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{Gw: netip.MustParseAddr(gw).AsSlice(), LinkIndex: link})
	}
	return r
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSync(t *testing.T) {
	const static = netlink.RouteProtocol(unix.RTPROT_STATIC)
	withMetric := func(r netlink.Route, m int) netlink.Route { r.Priority = m; return r }
	inTable := func(r netlink.Route, table int) netlink.Route { r.Table = table; return r }

	tests := []struct {
		name      string
		table     int
		initial   []netlink.Route
		desired   []Route
		prune     bool
		want      SyncResult
		wantTable []string
		wantErr   string
	}{
		{
			name:      "adds a missing IPv4 route via the link of its next hop",
			desired:   []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "adds a missing IPv6 route",
			desired:   []Route{route("fd00:244:1::/64", "2001:db8::2")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"fd00:244:1::/64 via 2001:db8::2 dev 2 proto 78 table 254 metric 1024"},
		},
		{
			name:      "replaces a route whose next hop changed",
			initial:   []netlink.Route{kroute("10.244.1.0/24", "10.0.0.3", 2, Protocol)},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:      SyncResult{Replaced: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "leaves a route that is already right untouched",
			initial:   []netlink.Route{kroute("10.244.1.0/24", "10.0.0.2", 2, Protocol)},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:      SyncResult{Unchanged: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "prunes a stale route of ours when asked",
			initial:   []netlink.Route{kroute("10.244.9.0/24", "10.0.0.9", 2, Protocol)},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.2")},
			prune:     true,
			want:      SyncResult{Added: 1, Deleted: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:    "keeps a stale route of ours when not pruning",
			initial: []netlink.Route{kroute("10.244.9.0/24", "10.0.0.9", 2, Protocol)},
			desired: []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:    SyncResult{Added: 1},
			wantTable: []string{
				"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0",
				"10.244.9.0/24 via 10.0.0.9 dev 2 proto 78 table 254 metric 0",
			},
		},
		{
			name:    "prunes a route of ours under another metric",
			initial: []netlink.Route{withMetric(kroute("10.244.1.0/24", "10.0.0.2", 2, Protocol), 50)},
			desired: []Route{route("10.244.1.0/24", "10.0.0.2")},
			prune:   true,
			want:    SyncResult{Added: 1, Deleted: 1},
			wantTable: []string{
				"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0",
			},
		},
		{
			name: "skips next hops that are not on a connected subnet of an up link",
			desired: []Route{
				route("10.244.1.0/24", "192.168.7.1"), // nowhere
				route("10.244.2.0/24", "10.1.0.2"),    // on the down link
				route("10.244.3.0/24", "127.0.0.2"),   // on the loopback
				route("10.244.4.0/24", "10.0.0.1"),    // our own address
				route("fd00:244:5::/64", "fe80::9"),   // on two links at once
			},
			prune: true,
			want: SyncResult{Unreachable: []Route{
				route("10.244.1.0/24", "192.168.7.1"),
				route("10.244.2.0/24", "10.1.0.2"),
				route("10.244.3.0/24", "127.0.0.2"),
				route("10.244.4.0/24", "10.0.0.1"),
				route("fd00:244:5::/64", "fe80::9"),
			}},
		},
		{
			name:    "prunes our old route for a prefix whose new next hop is unreachable",
			initial: []netlink.Route{kroute("10.244.1.0/24", "10.0.0.2", 2, Protocol)},
			desired: []Route{route("10.244.1.0/24", "192.168.7.1")},
			prune:   true,
			want:    SyncResult{Deleted: 1, Unreachable: []Route{route("10.244.1.0/24", "192.168.7.1")}},
		},
		{
			name:      "never replaces a foreign route that holds the prefix",
			initial:   []netlink.Route{kroute("10.244.1.0/24", "10.0.0.7", 2, static)},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.2")},
			prune:     true,
			want:      SyncResult{Foreign: []Route{route("10.244.1.0/24", "10.0.0.2")}},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.7 dev 2 proto 4 table 254 metric 0"},
		},
		{
			name:      "never prunes a foreign route",
			initial:   []netlink.Route{kroute("10.244.9.0/24", "10.0.0.9", 2, static), kroute("10.244.8.0/24", "10.0.0.8", 2, unix.RTPROT_BOOT)},
			prune:     true,
			want:      SyncResult{},
			wantTable: []string{"10.244.8.0/24 via 10.0.0.8 dev 2 proto 3 table 254 metric 0", "10.244.9.0/24 via 10.0.0.9 dev 2 proto 4 table 254 metric 0"},
		},
		{
			name: "installs one multipath route over the reachable next hops of a prefix wanted several times",
			desired: []Route{
				route("10.244.1.0/24", "10.0.0.9"),
				route("10.244.1.0/24", "192.168.7.1"),
				route("10.244.1.0/24", "10.0.0.3"),
			},
			want:      SyncResult{Added: 1, Unreachable: []Route{route("10.244.1.0/24", "192.168.7.1")}},
			wantTable: []string{"10.244.1.0/24 nexthop via 10.0.0.3 dev 2 nexthop via 10.0.0.9 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "replaces a single-path route by a multipath one when a second next hop appears",
			initial:   []netlink.Route{kroute("10.244.1.0/24", "10.0.0.3", 2, Protocol)},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.3"), route("10.244.1.0/24", "10.0.0.9")},
			want:      SyncResult{Replaced: 1},
			wantTable: []string{"10.244.1.0/24 nexthop via 10.0.0.3 dev 2 nexthop via 10.0.0.9 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "replaces a multipath route by a single-path one when a next hop goes",
			initial:   []netlink.Route{multipathKroute("10.244.1.0/24", 2, "10.0.0.9", "10.0.0.3")},
			desired:   []Route{route("10.244.1.0/24", "10.0.0.3")},
			want:      SyncResult{Replaced: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.3 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "leaves a multipath route alone whatever order the kernel lists its next hops in",
			initial:   []netlink.Route{multipathKroute("fd00:244:1::/64", 2, "2001:db8::9", "2001:db8::3")},
			desired:   []Route{route("fd00:244:1::/64", "2001:db8::3"), route("fd00:244:1::/64", "2001:db8::9")},
			want:      SyncResult{Unchanged: 1},
			wantTable: []string{"fd00:244:1::/64 nexthop via 2001:db8::9 dev 2 nexthop via 2001:db8::3 dev 2 proto 78 table 254 metric 1024"},
		},
		{
			name:      "masks a prefix with host bits set",
			desired:   []Route{route("10.244.1.7/24", "10.0.0.2")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "reports invalid routes and installs the valid ones",
			desired:   []Route{{}, route("10.244.1.0/24", "2001:db8::2"), route("10.244.2.0/24", "10.0.0.2")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"10.244.2.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
			wantErr:   "10.244.1.0/24 via 2001:db8::2: prefix and next hop are of different address families",
		},
		{
			name:    "manages only its own table",
			table:   100,
			initial: []netlink.Route{kroute("10.244.9.0/24", "10.0.0.9", 2, Protocol), inTable(kroute("10.244.8.0/24", "10.0.0.8", 2, Protocol), 100)},
			desired: []Route{route("10.244.1.0/24", "10.0.0.2")},
			prune:   true,
			want:    SyncResult{Added: 1, Deleted: 1},
			wantTable: []string{
				"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 100 metric 0",
				"10.244.9.0/24 via 10.0.0.9 dev 2 proto 78 table 254 metric 0",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := fakeNode(t)
			for _, r := range tc.initial {
				k.put(r)
			}
			r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k, Table: tc.table})

			k.newPass()
			got, err := r.Sync(context.Background(), tc.desired, tc.prune)
			checkErr(t, err, tc.wantErr)
			checkResult(t, got, tc.want)
			if table := k.table(); !slices.Equal(table, tc.wantTable) {
				t.Errorf("kernel table after Sync:\n  got  %q\n  want %q", table, tc.wantTable)
			}

			// The same Sync again finds nothing to do: idempotence.
			k.newPass()
			again, err := r.Sync(context.Background(), tc.desired, tc.prune)
			checkErr(t, err, tc.wantErr)
			installed := tc.want.Added + tc.want.Replaced + tc.want.Unchanged
			checkResult(t, again, SyncResult{Unchanged: installed, Unreachable: tc.want.Unreachable, Foreign: tc.want.Foreign})
			if k.writes != 0 {
				t.Errorf("second Sync wrote to the kernel %d times, want 0", k.writes)
			}
		})
	}
}

func TestSyncFailureOnOneRouteDoesNotStopTheOthers(t *testing.T) {
	k := fakeNode(t)
	k.put(kroute("10.244.9.0/24", "10.0.0.9", 2, Protocol))
	k.put(kroute("10.244.3.0/24", "10.0.0.9", 2, Protocol))
	k.fail[netip.MustParsePrefix("10.244.1.0/24")] = unix.ENOMEM
	k.fail[netip.MustParsePrefix("10.244.3.0/24")] = unix.EBUSY
	k.fail[netip.MustParsePrefix("10.244.9.0/24")] = unix.EPERM
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	desired := []Route{
		route("10.244.1.0/24", "10.0.0.2"), // add fails
		route("10.244.2.0/24", "10.0.0.2"),
		route("10.244.3.0/24", "10.0.0.2"), // replace fails
		route("10.244.4.0/24", "10.0.0.2"),
	}

	k.newPass()
	got, err := r.Sync(context.Background(), desired, true) // and the prune of 10.244.9.0/24 fails
	checkResult(t, got, SyncResult{Added: 2})
	for _, want := range []string{
		"adding route 10.244.1.0/24 via 10.0.0.2: cannot allocate memory",
		"replacing route 10.244.3.0/24 via 10.0.0.2: device or resource busy",
		"deleting stale route 10.244.9.0/24 via 10.0.0.9: operation not permitted",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Sync error = %v, want it to contain %q", err, want)
		}
	}
	if !errors.Is(err, unix.ENOMEM) {
		t.Errorf("Sync error does not wrap the kernel's errno: %v", err)
	}

	// The next Sync retries what failed.
	clear(k.fail)
	k.newPass()
	got, err = r.Sync(context.Background(), desired, true)
	if err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	checkResult(t, got, SyncResult{Added: 1, Replaced: 1, Deleted: 1, Unchanged: 2})
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("Sync: unexpected error %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("Sync error = %v, want it to contain %q", err, want)
	}
}

func checkResult(t *testing.T, got, want SyncResult) {
	t.Helper()
	if got.Added != want.Added || got.Replaced != want.Replaced || got.Deleted != want.Deleted || got.Unchanged != want.Unchanged {
		t.Errorf("Sync counted added/replaced/deleted/unchanged %d/%d/%d/%d, want %d/%d/%d/%d",
			got.Added, got.Replaced, got.Deleted, got.Unchanged, want.Added, want.Replaced, want.Deleted, want.Unchanged)
	}
	if !slices.Equal(got.Unreachable, want.Unreachable) {
		t.Errorf("Unreachable = %v, want %v", got.Unreachable, want.Unreachable)
	}
	if !slices.Equal(got.Foreign, want.Foreign) {
		t.Errorf("Foreign = %v, want %v", got.Foreign, want.Foreign)
	}
}

// cancelOnRouteDump ends a context while the reconciler reads the route
// table, as an agent stopping in the middle of a pass would.
type cancelOnRouteDump struct {
	*fakeKernel
	cancel context.CancelFunc
}

func (k cancelOnRouteDump) RouteListFilteredIter(family int, filter *netlink.Route, mask uint64, f func(netlink.Route) bool) error {
	k.cancel()
	return k.fakeKernel.RouteListFilteredIter(family, filter, mask, f)
}

func TestSyncWritesNothingOnceTheContextEnded(t *testing.T) {
	desired := []Route{route("10.244.1.0/24", "10.0.0.2")}

	k := fakeNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k.newPass()
	_, err := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k}).Sync(ctx, desired, true)
	if !errors.Is(err, context.Canceled) || k.linkDumps+k.addrDumps+k.routeDumps+k.writes != 0 {
		t.Errorf("Sync with an ended context: error %v, %d dumps and %d writes; want context.Canceled and no kernel call",
			err, k.linkDumps+k.addrDumps+k.routeDumps, k.writes)
	}

	ctx, cancel = context.WithCancel(context.Background())
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: cancelOnRouteDump{k, cancel}})
	k.newPass()
	_, err = r.Sync(ctx, desired, true)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 writes not started") || k.writes != 0 {
		t.Errorf("Sync whose context ended during the dumps: error %v, %d writes; want context.Canceled and no write", err, k.writes)
	}

	k.newPass()
	got, err := r.Sync(context.Background(), desired, true)
	if err != nil {
		t.Fatalf("the next Sync: %v", err)
	}
	checkResult(t, got, SyncResult{Added: 1})
}

// Sync sorts and normalises the desired routes in a list of its own: the
// caller may keep and reuse its list.
func TestSyncLeavesTheCallersListAsItIs(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	desired := []Route{
		route("10.244.3.0/24", "10.0.0.3"),
		route("10.244.1.7/24", "10.0.0.2"), // host bits set
		route("10.244.3.0/24", "10.0.0.2"),
		route("10.244.3.0/24", "10.0.0.3"), // twice
	}
	before := slices.Clone(desired)
	got, err := r.Sync(context.Background(), desired, true)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, got, SyncResult{Added: 2})
	if !slices.Equal(desired, before) {
		t.Errorf("Sync changed the caller's list: %v, was %v", desired, before)
	}
}
