package routes

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func change(prefix string, gws ...string) Change {
	c := Change{Prefix: netip.MustParsePrefix(prefix)}
	for _, gw := range gws {
		c.Gateways = append(c.Gateways, netip.MustParseAddr(gw))
	}
	return c
}

// Each case: a Sync of synced (the full pass before), then Update with
// changes, twice: the second Update writes nothing. Then a full Sync of
// after, the table the changes lead to, must write nothing either: Update
// and Sync agree on what the kernel should hold.
func TestUpdate(t *testing.T) {
	const static = netlink.RouteProtocol(unix.RTPROT_STATIC)
	tests := []struct {
		name      string
		initial   []netlink.Route
		synced    []Route
		changes   []Change
		after     []Route
		prune     bool
		want      SyncResult
		wantTable []string
	}{
		{
			name:      "adds a new prefix",
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.2.0/24", "10.0.0.3")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.3")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0", "10.244.2.0/24 via 10.0.0.3 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "replaces a route whose next hop changed, IPv6 too",
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2"), route("fd00:244:1::/64", "2001:db8::2")},
			changes:   []Change{change("10.244.1.0/24", "10.0.0.5"), change("fd00:244:1::/64", "2001:db8::5")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.5"), route("fd00:244:1::/64", "2001:db8::5")},
			want:      SyncResult{Replaced: 2},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.5 dev 2 proto 78 table 254 metric 0", "fd00:244:1::/64 via 2001:db8::5 dev 2 proto 78 table 254 metric 1024"},
		},
		{
			name:      "several gateways make a multipath route",
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.1.0/24", "10.0.0.3", "10.0.0.2")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.1.0/24", "10.0.0.3")},
			want:      SyncResult{Replaced: 1},
			wantTable: []string{"10.244.1.0/24 nexthop via 10.0.0.2 dev 2 nexthop via 10.0.0.3 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "a withdrawn prefix loses its route once pruning is allowed",
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.2.0/24")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.2")},
			prune:     true,
			want:      SyncResult{Deleted: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			// A route the last agent left that this one has not routed
			// yet: before the RIB converged, it may only be late.
			name:      "a withdrawn prefix not routed in this run keeps its route before the RIB converged",
			initial:   []netlink.Route{kroute("10.244.2.0/24", "10.0.0.2", 2, Protocol)},
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.2.0/24")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:      SyncResult{},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0", "10.244.2.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			// Routed in this run and then withdrawn (its peer failed):
			// gone, converged or not.
			name:      "a withdrawn prefix routed in this run loses its route before the RIB converged",
			synced:    []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.2.0/24")},
			after:     []Route{route("10.244.1.0/24", "10.0.0.2")},
			want:      SyncResult{Deleted: 1},
			wantTable: []string{"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "the last change of a prefix wins",
			changes:   []Change{change("10.244.3.0/24", "10.0.0.7"), change("10.244.3.0/24", "10.0.0.8")},
			after:     []Route{route("10.244.3.0/24", "10.0.0.8")},
			want:      SyncResult{Added: 1},
			wantTable: []string{"10.244.3.0/24 via 10.0.0.8 dev 2 proto 78 table 254 metric 0"},
		},
		{
			name:      "an unreachable next hop is reported, not written",
			changes:   []Change{change("10.244.3.0/24", "10.1.0.9")}, // eth1 is down
			want:      SyncResult{Unreachable: []Route{route("10.244.3.0/24", "10.1.0.9")}},
			wantTable: nil,
		},
		{
			name:      "a prefix a foreign route held at the last Sync is left alone",
			initial:   []netlink.Route{kroute("10.244.4.0/24", "10.0.0.9", 2, static)},
			synced:    []Route{route("10.244.4.0/24", "10.0.0.2")},
			changes:   []Change{change("10.244.4.0/24", "10.0.0.3")},
			after:     []Route{route("10.244.4.0/24", "10.0.0.3")},
			want:      SyncResult{Foreign: []Route{route("10.244.4.0/24", "10.0.0.3")}},
			wantTable: []string{"10.244.4.0/24 via 10.0.0.9 dev 2 proto 4 table 254 metric 0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := fakeNode(t)
			for _, r := range tc.initial {
				k.put(r)
			}
			r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
			if _, err := r.Sync(context.Background(), tc.synced, tc.prune); err != nil {
				t.Fatalf("Sync before: %v", err)
			}

			for pass := 1; pass <= 2; pass++ {
				k.newPass()
				k.updating = true
				got, err := r.Update(context.Background(), tc.changes, tc.prune)
				k.updating = false
				if err != nil {
					t.Fatalf("Update pass %d: %v", pass, err)
				}
				want := tc.want
				if pass == 2 {
					// Nothing left to do: what was written is now unchanged.
					want = SyncResult{Unchanged: tc.want.Added + tc.want.Replaced + tc.want.Unchanged, Unreachable: tc.want.Unreachable, Foreign: tc.want.Foreign}
					if k.writes != 0 {
						t.Errorf("second Update wrote to the kernel %d times, want 0", k.writes)
					}
				}
				checkResult(t, got, want)
				if got.Resync {
					t.Errorf("Update pass %d asks for a resync; want none", pass)
				}
				if table := k.table(); !slices.Equal(table, tc.wantTable) {
					t.Errorf("kernel table after Update pass %d:\n  got  %q\n  want %q", pass, table, tc.wantTable)
				}
			}

			k.newPass()
			if _, err := r.Sync(context.Background(), tc.after, false); err != nil {
				t.Fatalf("Sync after: %v", err)
			}
			if k.writes != 0 {
				t.Errorf("a full Sync of the table the changes lead to wrote %d times, want 0: Update and Sync disagree", k.writes)
			}
		})
	}
}

// One Update with adds, replaces and deletes, given mixed: the kernel gets
// the adds first, then the replaces, then the deletes (traffic moving to a
// new path has it before an old one goes), each group in prefix order, and
// a prefix listed twice is written once, with its last change.
func TestUpdateWritesAddsThenReplacesThenDeletes(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	synced := []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.2"), route("10.244.3.0/24", "10.0.0.2")}
	if _, err := r.Sync(context.Background(), synced, true); err != nil {
		t.Fatal(err)
	}
	k.written = nil
	changes := []Change{
		change("10.244.3.0/24"),             // delete
		change("10.244.9.0/24", "10.0.0.3"), // add
		change("10.244.2.0/24", "10.0.0.3"), // replace
		change("10.244.5.0/24", "10.0.0.3"), // add, then its last change:
		change("10.244.1.0/24"),             // delete
		change("10.244.5.0/24", "10.0.0.4"),
	}
	k.updating = true
	got, err := r.Update(context.Background(), changes, true)
	k.updating = false
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, got, SyncResult{Added: 2, Replaced: 1, Deleted: 2})
	var order []string
	for _, w := range k.written {
		order = append(order, opName(w.Op)+" "+w.Dst.String()+" "+w.Gateway.String())
	}
	want := []string{
		opName(OpAdd) + " 10.244.5.0/24 10.0.0.4",
		opName(OpAdd) + " 10.244.9.0/24 10.0.0.3",
		opName(OpReplace) + " 10.244.2.0/24 10.0.0.3",
		opName(OpDelete) + " 10.244.1.0/24 10.0.0.2",
		opName(OpDelete) + " 10.244.3.0/24 10.0.0.2",
	}
	if !slices.Equal(order, want) {
		t.Errorf("writes in this order:\n  got  %q\n  want %q", order, want)
	}
}

func TestUpdateAsksForAFullSyncWhereItsRecordFallsShort(t *testing.T) {
	const static = netlink.RouteProtocol(unix.RTPROT_STATIC)
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	changes := []Change{change("10.244.5.0/24", "10.0.0.2")}

	k.updating = true
	got, err := r.Update(context.Background(), changes, true)
	if err != nil || !got.Resync || k.writes+k.linkDumps+k.addrDumps+k.routeDumps != 0 {
		t.Fatalf("Update before any Sync = %+v, %v, %d kernel calls; want Resync and no kernel call", got, err, k.writes+k.linkDumps+k.addrDumps+k.routeDumps)
	}
	k.updating = false

	if _, err := r.Sync(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	// Someone adds a static route for the prefix after the Sync: the add
	// finds it, and only a full Sync can tell whose it is.
	k.put(kroute("10.244.5.0/24", "10.0.0.9", 2, static))
	k.updating = true
	got, err = r.Update(context.Background(), changes, true)
	k.updating = false
	if err != nil || !got.Resync || got.Added != 0 {
		t.Fatalf("Update onto an unknown route = %+v, %v; want Resync, no error, nothing added", got, err)
	}
	if table := k.table(); !slices.Equal(table, []string{"10.244.5.0/24 via 10.0.0.9 dev 2 proto 4 table 254 metric 0"}) {
		t.Fatalf("kernel table %q: the foreign route must stay", table)
	}
	k.newPass()
	got, err = r.Sync(context.Background(), []Route{route("10.244.5.0/24", "10.0.0.2")}, true)
	if err != nil || len(got.Foreign) != 1 {
		t.Fatalf("the full Sync = %+v, %v; want the foreign route reported", got, err)
	}
}

// Sync without pruning keeps a route the last agent left (not routed in
// this run) but deletes one this run routed that is no longer wanted: a
// peer that fails before the RIB converged loses its routes at once.
func TestSyncBeforeConvergenceDeletesOnlyWhatThisRunRouted(t *testing.T) {
	k := fakeNode(t)
	k.put(kroute("10.244.9.0/24", "10.0.0.9", 2, Protocol))
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	both := []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.3")}
	if _, err := r.Sync(context.Background(), both, false); err != nil {
		t.Fatal(err)
	}
	k.newPass()
	got, err := r.Sync(context.Background(), both[:1], false)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, got, SyncResult{Deleted: 1, Unchanged: 1})
	want := []string{
		"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0",
		"10.244.9.0/24 via 10.0.0.9 dev 2 proto 78 table 254 metric 0",
	}
	if table := k.table(); !slices.Equal(table, want) {
		t.Fatalf("kernel table:\n  got  %q\n  want %q", table, want)
	}
}

// Holds tells the agent's own deletions (the record drops them as they are
// written) from someone else's (the record still holds the route).
func TestHoldsTellsOurOwnDeletionsFromSomeoneElses(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	ours, other := netip.MustParsePrefix("10.244.5.0/24"), netip.MustParsePrefix("10.244.6.0/24")
	if !r.Holds([]netip.Prefix{ours}) {
		t.Fatalf("Holds before any Sync = false; want true (no record to tell by)")
	}
	if r.Holds(nil) {
		t.Fatalf("Holds of no prefix = true; want false")
	}
	if _, err := r.Sync(context.Background(), []Route{route("10.244.5.0/24", "10.0.0.2"), route("10.244.6.0/24", "10.0.0.2")}, true); err != nil {
		t.Fatal(err)
	}
	if !r.Holds([]netip.Prefix{ours}) || !r.Holds([]netip.Prefix{netip.MustParsePrefix("10.244.6.7/24")}) {
		t.Fatalf("Holds = false for a prefix the Sync installed; want true")
	}
	// The agent withdraws ours: the kernel's report of that deletion is
	// the agent's own.
	k.updating = true
	if _, err := r.Update(context.Background(), []Change{{Prefix: ours}}, true); err != nil {
		t.Fatal(err)
	}
	k.updating = false
	if r.Holds([]netip.Prefix{ours}) {
		t.Fatalf("Holds = true for a prefix the reconciler deleted itself; want false")
	}
	if !r.Holds([]netip.Prefix{ours, other}) {
		t.Fatalf("Holds = false with one prefix still installed; want true")
	}
}

// A pruning call may delete every route not wanted, so the prefixes learned
// before it are dropped then, and none are noted while pruning: the agent
// prunes from convergence on, and a set of every prefix it ever routed would
// be a second per-route map beside the record that never shrinks. Without
// pruning, what a call routes is learned again, and its withdraw deletes it.
func TestLearnedPrefixesAreKeptOnlyWhileNotPruning(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	ctx := context.Background()
	learned := func(step string, want int) {
		t.Helper()
		if len(r.learned) != want {
			t.Fatalf("%s: %d prefixes learned %v, want %d", step, len(r.learned), r.learned, want)
		}
	}
	two := []Route{route("10.244.1.0/24", "10.0.0.2"), route("10.244.2.0/24", "10.0.0.3")}
	if _, err := r.Sync(ctx, two, false); err != nil {
		t.Fatal(err)
	}
	learned("Sync before convergence", 2)
	if _, err := r.Update(ctx, []Change{change("10.244.3.0/24", "10.0.0.4")}, false); err != nil {
		t.Fatal(err)
	}
	learned("Update before convergence", 3)

	k.newPass()
	if _, err := r.Sync(ctx, two, true); err != nil {
		t.Fatal(err)
	}
	learned("the first pruning Sync", 0)
	if got, err := r.Update(ctx, []Change{change("10.244.4.0/24", "10.0.0.5")}, true); err != nil || got.Added != 1 {
		t.Fatalf("pruning Update adding a route = %+v, %v", got, err)
	}
	learned("a pruning Update", 0)
	if got, err := r.Update(ctx, []Change{change("10.244.4.0/24")}, true); err != nil || got.Deleted != 1 {
		t.Fatalf("pruning Update withdrawing it = %+v, %v; want it deleted", got, err)
	}

	if got, err := r.Update(ctx, []Change{change("10.244.5.0/24", "10.0.0.6")}, false); err != nil || got.Added != 1 {
		t.Fatalf("Update without pruning adding a route = %+v, %v", got, err)
	}
	learned("an Update without pruning after pruning", 1)
	if got, err := r.Update(ctx, []Change{change("10.244.5.0/24")}, false); err != nil || got.Deleted != 1 {
		t.Fatalf("Update without pruning withdrawing a route it learned = %+v, %v; want it deleted", got, err)
	}
	want := []string{
		"10.244.1.0/24 via 10.0.0.2 dev 2 proto 78 table 254 metric 0",
		"10.244.2.0/24 via 10.0.0.3 dev 2 proto 78 table 254 metric 0",
	}
	if table := k.table(); !slices.Equal(table, want) {
		t.Fatalf("kernel table:\n  got  %q\n  want %q", table, want)
	}
}

// writeCounter is a kernel that takes every write and allocates nothing, so
// that what Update itself allocates can be counted.
type writeCounter struct {
	Kernel
	errs []error
}

func (k *writeCounter) WriteRoutes(writes []RouteWrite) []error {
	k.errs = slices.Grow(k.errs[:0], len(writes))[:len(writes)]
	return k.errs
}

// The route loop runs thousands of Updates while a peer sends a big table:
// once the first has sized its lists, an Update allocates nothing (no write
// list, no next-hop lists per change), and a call bigger than a batch does
// not leave its list behind.
func TestUpdatesAfterTheFirstAllocateNothing(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	var synced []Route
	for i := range 200 {
		synced = append(synced, Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(i), 0}), 24), Gateway: netip.MustParseAddr("10.0.0.2")})
	}
	if _, err := r.Sync(context.Background(), synced, true); err != nil {
		t.Fatal(err)
	}
	r.kernel = &writeCounter{}
	// Every route moves between two gateways and back: a replace each.
	moves := [2][]Change{}
	for i, gw := range []netip.Addr{netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.2")} {
		for _, s := range synced {
			moves[i] = append(moves[i], Change{Prefix: s.Prefix, Gateways: []netip.Addr{gw}})
		}
	}
	pass := 0
	update := func() {
		res, err := r.Update(context.Background(), moves[pass%2], true)
		pass++
		if err != nil || res.Replaced != len(synced) {
			t.Fatalf("Update %d: replaced %d of %d, err %v", pass, res.Replaced, len(synced), err)
		}
	}
	update() // sizes the lists
	if allocs := testing.AllocsPerRun(10, update); allocs != 0 {
		t.Errorf("an Update of %d replaces allocated %.0f times, want 0", len(synced), allocs)
	}

	burst := make([]Change, maxScratchWrites+1)
	for i := range burst {
		burst[i] = Change{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 201, byte(i >> 8), byte(i)}), 32), Gateways: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	}
	if _, err := r.Update(context.Background(), burst, true); err != nil {
		t.Fatal(err)
	}
	if r.scratch.writes != nil {
		t.Errorf("after an Update of %d changes the reconciler keeps a write list of %d; want none kept above %d", len(burst), cap(r.scratch.writes), maxScratchWrites)
	}
}

// Next hops are planned in a list reused from change to change: each
// multipath route of one Update must still go via its own next hops.
func TestUpdateGivesEachMultipathRouteItsOwnNextHops(t *testing.T) {
	k := fakeNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: k})
	if _, err := r.Sync(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	changes := []Change{
		change("10.244.1.0/24", "10.0.0.2", "10.0.0.3"),
		change("10.244.2.0/24", "10.0.0.4", "10.0.0.5"),
		change("10.244.3.0/24", "10.0.0.6"),
	}
	if _, err := r.Update(context.Background(), changes, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"10.244.1.0/24 nexthop via 10.0.0.2 dev 2 nexthop via 10.0.0.3 dev 2 proto 78 table 254 metric 0",
		"10.244.2.0/24 nexthop via 10.0.0.4 dev 2 nexthop via 10.0.0.5 dev 2 proto 78 table 254 metric 0",
		"10.244.3.0/24 via 10.0.0.6 dev 2 proto 78 table 254 metric 0",
	}
	if got := k.table(); !slices.Equal(got, want) {
		t.Errorf("kernel table:\n  got  %q\n  want %q", got, want)
	}
	// The record holds what was written: the same Update again writes nothing.
	res, err := r.Update(context.Background(), changes, true)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, SyncResult{Unchanged: 3})
}
