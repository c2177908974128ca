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
	// kept are the prefixes whose route is what we want after the writes;
	// only without pruning all (they are learned then).
	kept []netip.Prefix
}

// pruning says which of our routes that are not wanted may be deleted: all
// (the RIB is complete), or only those of prefixes learned in this run of
// the agent (since it last pruned all), whose paths were withdrawn since. Right after a restart a
// route not re-learned yet must stay (its traffic still flows), but one
// that was re-learned and then withdrawn is gone for good: a peer that
// fails while the agent waits for every End-of-RIB (for up to the restart
// time, and never while that peer is down) must lose its routes at once.
type pruning struct {
	all     bool
	learned map[netip.Prefix]bool
}

func (pr pruning) may(p netip.Prefix) bool { return pr.all || pr.learned[p] }

type skipped struct {
	route  Route
	reason string
}

// desiredSet is the desired routes, normalised, sorted by prefix and then
// gateway, without repeats: the next hops of a prefix are a run of it, in
// address order, so that a multipath route does not depend on the order the
// caller listed them in. A sorted list rather than a map of prefixes to
// gateways: at 100,000 routes the map, a gateway list per prefix, the keys
// sorted for the plan and a map of the kept ones took 20 MB for as long as
// a full pass ran, the list and a flag per route 6 MB (docs/benchmarks.md
// "A full pass holds less").
type desiredSet []Route

// groupDesired checks and normalises the desired routes into a desiredSet
// of its own: the caller's list is left as it is.
func groupDesired(desired []Route) (desiredSet, []error) {
	set := make(desiredSet, 0, len(desired))
	var errs []error
	for _, r := range desired {
		p, gw, err := normalise(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set = append(set, Route{Prefix: p, Gateway: gw})
	}
	slices.SortFunc(set, func(a, b Route) int {
		if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return a.Gateway.Compare(b.Gateway)
	})
	return slices.Compact(set), errs
}

// find returns where p's run starts, and whether p is wanted at all.
func (s desiredSet) find(p netip.Prefix) (int, bool) {
	return slices.BinarySearchFunc(s, p, func(r Route, p netip.Prefix) int { return comparePrefix(r.Prefix, p) })
}

// run returns the end of the run of the prefix at i.
func (s desiredSet) run(i int) int {
	j := i + 1
	for j < len(s) && s[j].Prefix == s[i].Prefix {
		j++
	}
	return j
}

// changeHops appends to gws one Change's gateways, checked and normalised as
// groupDesired does a prefix's: sorted, without duplicates. No map, and the
// caller's list: Update runs it for every change of a 100,000-route burst.
func changeHops(gws []netip.Addr, c Change) ([]netip.Addr, []error) {
	var errs []error
	for _, gw := range c.Gateways {
		_, gw, err := normalise(Route{Prefix: c.Prefix, Gateway: gw})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gws = append(gws, gw)
	}
	slices.SortFunc(gws, netip.Addr.Compare)
	return slices.Compact(gws), errs
}

// normalise checks one desired route and returns its prefix masked and its
// gateway without IPv4-mapping or zone.
func normalise(r Route) (netip.Prefix, netip.Addr, error) {
	p, gw := r.Prefix.Masked(), r.Gateway.Unmap().WithZone("")
	switch {
	case !r.Prefix.IsValid() || !r.Gateway.IsValid():
		return p, gw, fmt.Errorf("route %s: prefix and next hop must both be set", r)
	case p.Addr().Is4() != gw.Is4():
		return p, gw, fmt.Errorf("route %s: prefix and next hop are of different address families", r)
	}
	return p, gw, nil
}

// makePlan decides, for each wanted prefix, whether to add, replace or leave
// its route, and which of our routes are stale.
//
// Multipath: when a prefix is wanted via several next hops, its route goes
// via every reachable one (RTA_MULTIPATH, equal weights, in address order);
// with one reachable next hop it is a plain route.
//
// A route of ours survives pruning only if it is exactly what we want now; a
// prefix that is skipped (unreachable, or held by a foreign route) leaves
// our old route for it stale.
func makePlan(wanted desiredSet, act actual, on onLink, table int, pr pruning) plan {
	var pl plan
	var adds, replaces []RouteWrite
	// keep marks, at the start of each wanted prefix's run, that its
	// route is what we want after the writes.
	keep := make([]bool, len(wanted))
	var gws []netip.Addr // one prefix's gateways, reused
	for i := 0; i < len(wanted); {
		end := wanted.run(i)
		p := wanted[i].Prefix
		gws = gws[:0]
		for _, r := range wanted[i:end] {
			gws = append(gws, r.Gateway)
		}
		start := i
		i = end
		hops := reachableNextHops(nil, p, gws, on, &pl)
		if len(hops) == 0 {
			continue
		}
		want := RouteWrite{Dst: p, Table: table}
		if len(hops) == 1 {
			want.Gateway, want.LinkIndex = hops[0].Gateway, hops[0].LinkIndex
		} else {
			want.NextHops = hops
		}
		have, exists := act.ours.get(p)
		switch {
		case exists && sameRoute(have, hops):
			pl.unchanged++
			keep[start] = true
		case act.foreign[p]:
			for _, h := range hops {
				pl.foreign = append(pl.foreign, Route{Prefix: p, Gateway: h.Gateway})
			}
		case exists:
			want.Op = OpReplace
			replaces = append(replaces, want)
			keep[start] = true
		default:
			want.Op = OpAdd
			adds = append(adds, want)
			keep[start] = true
		}
		if keep[start] && !pr.all {
			pl.kept = append(pl.kept, p)
		}
	}
	pl.writes = slices.Concat(adds, replaces)

	if act.interrupted {
		return pl
	}
	var dels []RouteWrite
	for p, have := range act.ours.all() {
		if i, found := wanted.find(p); (!found || !keep[i]) && pr.may(p) {
			dels = append(dels, deleteOurs(p, have, table))
		}
	}
	if pr.all {
		for _, have := range act.extras {
			dels = append(dels, deleteWrite(have))
		}
	}
	slices.SortFunc(dels, func(a, b RouteWrite) int { return comparePrefix(a.Dst, b.Dst) })
	pl.writes = append(pl.writes, dels...)
	return pl
}

// reachableNextHops appends to hops the next hops of gws (sorted) that a
// link carries, and records the others as unreachable.
func reachableNextHops(hops []NextHop, p netip.Prefix, gws []netip.Addr, on onLink, pl *plan) []NextHop {
	for _, gw := range gws {
		link, reason := on.resolve(gw)
		if reason != "" {
			pl.unreachable = append(pl.unreachable, skipped{route: Route{Prefix: p, Gateway: gw}, reason: reason})
			continue
		}
		hops = append(hops, NextHop{Gateway: gw, LinkIndex: link})
	}
	return hops
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
