package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// actual is the part of one routing table that Sync cares about, read with a
// single dump of both families.
type actual struct {
	// ours holds, per prefix, our route with the key we install under
	// (no TOS, the family's default metric): the one a replace would hit.
	// It keeps only what a diff needs, not the dump's netlink.Route, and
	// becomes the Reconciler's record once the writes are done.
	ours *record
	// extras are our routes under any other key (someone changed a metric,
	// say). No desired route maps to them, so pruning removes them.
	extras []netlink.Route
	// foreign lists the wanted prefixes that a route without Protocol holds.
	// Other foreign routes are not kept: on a router with a full table that
	// would be most of the table.
	foreign map[netip.Prefix]bool
	// interrupted says the table changed during the dump, so it may be
	// incomplete: adding is still safe, pruning on its word is not.
	interrupted bool
}

// readActual dumps the table once. The kernel dumps every table anyway
// (netlink filters in user space), so one pass sorts out both our routes and
// the foreign ones that would collide with what we want to install.
func readActual(k Kernel, table int, wanted desiredSet) (actual, error) {
	a := actual{ours: newRecord(), foreign: make(map[netip.Prefix]bool)}
	filter := &netlink.Route{Table: table}
	err := k.RouteListFilteredIter(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
		dst, ok := netconv.Prefix(r.Dst)
		if !ok {
			return true
		}
		if r.Protocol != Protocol {
			if _, want := wanted.find(dst); want {
				a.foreign[dst] = true
			}
			return true
		}
		if a.ours.has(dst) || !isOurKey(r, dst) {
			a.extras = append(a.extras, r)
			return true
		}
		a.ours.set(dst, ourRouteOf(r))
		return true
	})
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		a.interrupted = true
		err = nil
	}
	if err != nil {
		return actual{}, fmt.Errorf("listing routes of table %d: %w", table, err)
	}
	return a, nil
}

// isOurKey tells whether r sits under the key our own add or replace uses:
// TOS 0 and the metric the kernel gives a route that names none (0 for IPv4,
// 1024 for IPv6).
func isOurKey(r netlink.Route, dst netip.Prefix) bool {
	return r.Tos == 0 && r.Priority == defaultMetric(dst)
}

func defaultMetric(dst netip.Prefix) int {
	if dst.Addr().Is4() {
		return 0
	}
	return 1024
}

// ourRoute is one route of ours under our key, as much of it as a diff
// needs: where it goes, or that it is not a route we would have written.
type ourRoute struct {
	hop   NextHop   // a plain route's one next hop
	multi []NextHop // a multipath route's next hops, sorted; nil for a plain route
	// odd is set for a route we would not write ourselves (another type,
	// an encapsulation, weights, no gateway): it is never the one wanted.
	odd bool
}

// ourRouteOf reads a dumped route of ours. The kernel shows a multipath
// route with no gateway of its own and its next hops in MultiPath. Flags are
// left out on purpose: the kernel sets "linkdown" by itself.
func ourRouteOf(r netlink.Route) ourRoute {
	if r.Type != unix.RTN_UNICAST || r.Encap != nil {
		return ourRoute{odd: true}
	}
	if len(r.MultiPath) == 0 {
		gw, ok := netconv.Addr(r.Gw)
		return ourRoute{hop: NextHop{Gateway: gw, LinkIndex: r.LinkIndex}, odd: !ok}
	}
	if len(r.Gw) != 0 {
		return ourRoute{odd: true}
	}
	multi := make([]NextHop, 0, len(r.MultiPath))
	for _, nh := range r.MultiPath {
		gw, ok := netconv.Addr(nh.Gw)
		if !ok || nh.Hops != 0 || nh.Encap != nil || nh.Via != nil {
			return ourRoute{odd: true}
		}
		multi = append(multi, NextHop{Gateway: gw, LinkIndex: nh.LinkIndex})
	}
	// Compared as sets: the order the kernel lists them in is its own.
	slices.SortFunc(multi, func(a, b NextHop) int { return a.Gateway.Compare(b.Gateway) })
	return ourRoute{multi: multi}
}

// ourRouteFor is the route a write of hops (sorted) leaves in the kernel.
func ourRouteFor(hops []NextHop) ourRoute {
	if len(hops) == 1 {
		return ourRoute{hop: hops[0]}
	}
	return ourRoute{multi: slices.Clone(hops)}
}

// sameRoute tells whether the kernel's route already goes via exactly hops:
// one gateway on its link, or (several hops, sorted) a multipath route over
// them with equal weights.
func sameRoute(have ourRoute, hops []NextHop) bool {
	switch {
	case have.odd:
		return false
	case len(hops) == 1:
		return have.multi == nil && have.hop == hops[0]
	}
	return have.multi != nil && slices.Equal(have.multi, hops)
}

// deleteOurs names our route for dst under our key, for deletion.
func deleteOurs(dst netip.Prefix, have ourRoute, table int) RouteWrite {
	w := RouteWrite{Op: OpDelete, Dst: dst, Table: table, Priority: defaultMetric(dst)}
	if have.multi == nil && !have.odd {
		w.Gateway = have.hop.Gateway
	}
	return w
}

// deleteWrite names exactly one route of ours, by the key the kernel files
// it under, for deletion.
func deleteWrite(r netlink.Route) RouteWrite {
	dst, _ := netconv.Prefix(r.Dst)
	gw, _ := netconv.Addr(r.Gw)
	return RouteWrite{Op: OpDelete, Dst: dst, Gateway: gw, Table: r.Table, Priority: r.Priority, Tos: r.Tos}
}
