package routes

import (
	"fmt"
	"net/netip"
	"slices"
)

// plan is the difference between the desired routes and the kernel's, worked
// out before any write so that the diff can be tested without a kernel.
type plan struct {
	// writes are the adds, then the replaces, then the deletes: traffic
	// moving to a new path has it before an old one goes.
	writes      []RouteWrite
	unchanged   int
	unreachable []skipped
	foreign     []Route
	// duplicates are desired routes that lost to another next hop for the
	// same prefix.
	duplicates []Route
}

type skipped struct {
	route  Route
	reason string
}

// groupDesired checks and normalises the desired routes and groups their
// next hops by prefix, sorted, so that the choice among duplicates does not
// depend on the order the caller listed them in.
func groupDesired(desired []Route) (map[netip.Prefix][]netip.Addr, []error) {
	byPrefix := make(map[netip.Prefix][]netip.Addr, len(desired))
	var errs []error
	for _, r := range desired {
		p, gw := r.Prefix.Masked(), r.Gateway.Unmap().WithZone("")
		switch {
		case !r.Prefix.IsValid() || !r.Gateway.IsValid():
			errs = append(errs, fmt.Errorf("route %s: prefix and next hop must both be set", r))
			continue
		case p.Addr().Is4() != gw.Is4():
			errs = append(errs, fmt.Errorf("route %s: prefix and next hop are of different address families", r))
			continue
		}
		byPrefix[p] = append(byPrefix[p], gw)
	}
	for p, gws := range byPrefix {
		slices.SortFunc(gws, netip.Addr.Compare)
		byPrefix[p] = slices.Compact(gws)
	}
	return byPrefix, errs
}

// makePlan decides, for each wanted prefix, whether to add, replace or leave
// its route, and which of our routes are stale.
//
// Duplicates: when a prefix is wanted via several next hops, the lowest next
// hop in address order that is reachable wins (one path per prefix for now;
// ECMP would install them all).
//
// A route of ours survives pruning only if it is exactly what we want now; a
// prefix that is skipped (unreachable, or held by a foreign route) leaves
// our old route for it stale.
func makePlan(wanted map[netip.Prefix][]netip.Addr, act actual, on onLink, table int, pruneStale bool) plan {
	var pl plan
	var adds, replaces []RouteWrite
	keep := make(map[netip.Prefix]bool, len(wanted))
	prefixes := make([]netip.Prefix, 0, len(wanted))
	for p := range wanted {
		prefixes = append(prefixes, p)
	}
	slices.SortFunc(prefixes, comparePrefix)

	for _, p := range prefixes {
		gw, link, ok := pickNextHop(p, wanted[p], on, &pl)
		if !ok {
			continue
		}
		want := RouteWrite{Dst: p, Gateway: gw, LinkIndex: link, Table: table}
		have, exists := act.ours[p]
		switch {
		case exists && sameRoute(have, gw, link):
			pl.unchanged++
			keep[p] = true
		case act.foreign[p]:
			pl.foreign = append(pl.foreign, Route{Prefix: p, Gateway: gw})
		case exists:
			want.Op = OpReplace
			replaces = append(replaces, want)
			keep[p] = true
		default:
			want.Op = OpAdd
			adds = append(adds, want)
			keep[p] = true
		}
	}
	pl.writes = slices.Concat(adds, replaces)

	if !pruneStale || act.interrupted {
		return pl
	}
	var dels []RouteWrite
	for p, have := range act.ours {
		if !keep[p] {
			dels = append(dels, deleteWrite(have))
		}
	}
	for _, have := range act.extras {
		dels = append(dels, deleteWrite(have))
	}
	slices.SortFunc(dels, func(a, b RouteWrite) int { return comparePrefix(a.Dst, b.Dst) })
	pl.writes = append(pl.writes, dels...)
	return pl
}

// pickNextHop returns the first reachable next hop of gws and its link. It
// records the others as duplicates, or all of them as unreachable if none is.
func pickNextHop(p netip.Prefix, gws []netip.Addr, on onLink, pl *plan) (netip.Addr, int, bool) {
	var unusable []skipped
	for i, gw := range gws {
		link, reason := on.resolve(gw)
		if reason != "" {
			unusable = append(unusable, skipped{route: Route{Prefix: p, Gateway: gw}, reason: reason})
			continue
		}
		for _, other := range slices.Concat(gws[:i], gws[i+1:]) {
			pl.duplicates = append(pl.duplicates, Route{Prefix: p, Gateway: other})
		}
		return gw, link, true
	}
	pl.unreachable = append(pl.unreachable, unusable...)
	return netip.Addr{}, 0, false
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
