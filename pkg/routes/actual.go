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
	ours map[netip.Prefix]netlink.Route
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
func readActual(k Kernel, table int, wanted map[netip.Prefix][]netip.Addr) (actual, error) {
	a := actual{ours: make(map[netip.Prefix]netlink.Route), foreign: make(map[netip.Prefix]bool)}
	filter := &netlink.Route{Table: table}
	err := k.RouteListFilteredIter(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
		dst, ok := netconv.Prefix(r.Dst)
		if !ok {
			return true
		}
		if r.Protocol != Protocol {
			if _, want := wanted[dst]; want {
				a.foreign[dst] = true
			}
			return true
		}
		if _, dup := a.ours[dst]; dup || !isOurKey(r, dst) {
			a.extras = append(a.extras, r)
			return true
		}
		a.ours[dst] = r
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

// sameRoute tells whether the kernel's route already goes via exactly hops:
// one gateway on its link, or (several hops, sorted) a multipath route over
// them with equal weights. The kernel shows a multipath route with
// no gateway of its own and its next hops in MultiPath. Flags are left out
// on purpose: the kernel sets "linkdown" by itself.
func sameRoute(have netlink.Route, hops []NextHop) bool {
	if have.Type != unix.RTN_UNICAST || have.Encap != nil {
		return false
	}
	if len(hops) == 1 {
		haveGw, ok := netconv.Addr(have.Gw)
		return ok && haveGw == hops[0].Gateway && have.LinkIndex == hops[0].LinkIndex && len(have.MultiPath) == 0
	}
	if len(have.Gw) != 0 || len(have.MultiPath) != len(hops) {
		return false
	}
	got := make([]NextHop, 0, len(have.MultiPath))
	for _, nh := range have.MultiPath {
		gw, ok := netconv.Addr(nh.Gw)
		if !ok || nh.Hops != 0 || nh.Encap != nil || nh.Via != nil {
			return false
		}
		got = append(got, NextHop{Gateway: gw, LinkIndex: nh.LinkIndex})
	}
	// Compared as sets: the order the kernel lists them in is its own.
	slices.SortFunc(got, func(a, b NextHop) int { return a.Gateway.Compare(b.Gateway) })
	return slices.Equal(got, hops)
}

// deleteWrite names exactly one route of ours, by the key the kernel files
// it under, for deletion.
func deleteWrite(r netlink.Route) RouteWrite {
	dst, _ := netconv.Prefix(r.Dst)
	gw, _ := netconv.Addr(r.Gw)
	return RouteWrite{Op: OpDelete, Dst: dst, Gateway: gw, Table: r.Table, Priority: r.Priority, Tos: r.Tos}
}
