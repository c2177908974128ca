package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// BestPaths returns the best path of every IPv4 and IPv6 unicast prefix
// that was learned from a peer, sorted; the paths this speaker originates
// are not included. Multipath: a prefix appears once per next hop when
// several peers announce it equally well (GoBGP's own equal-cost set, the
// one WatchBestPaths reports: same iBGP/eBGP, LOCAL_PREF, AS-path length,
// ORIGIN and MED), so that the kernel can spread traffic over all of them
// (ECMP). Stale paths that a restarting peer's graceful restart keeps are
// included: keeping them routed is the point. A path without a usable next
// hop is logged and skipped, so one bad path never hides the others.
//
// GoBGP's RIB is read in place, inside its server loop (ListBestPaths,
// third_party/gobgp-patches/009): no copy of the table and nothing in
// GoBGP's API form, where ListPath copied every destination and converted
// every path: at 100,000 routes about 110 MB of garbage a pass, with the
// agent's decoding of it. Only the result, a Path per route, is ever held.
// ctx is checked before the read, which cannot be cut short.
func (s *Speaker) BestPaths(ctx context.Context) ([]Path, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing best paths: %w", err)
	}
	n := s.bestPaths.Load()
	out := make([]Path, 0, n+n/16)
	err := s.server.ListBestPaths(func(paths []server.BestPath) {
		for _, p := range paths {
			if nh, ok := s.usableNextHop(p); ok {
				out = append(out, Path{Prefix: p.Prefix, NextHop: nh})
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing best paths: %w", err)
	}
	slices.SortFunc(out, comparePaths)
	out = slices.Compact(out)
	s.bestPaths.Store(int64(len(out)))
	return out, nil
}

// usableNextHop returns the next hop of a best path that carries traffic:
// learned from a peer, not withdrawn, its next hop reachable as GoBGP
// tracks it and readable. An unreadable next hop is logged.
func (s *Speaker) usableNextHop(p server.BestPath) (netip.Addr, bool) {
	if p.Withdrawal || p.NextHopInvalid || !p.Learned {
		return netip.Addr{}, false
	}
	if !p.NextHop.IsValid() || p.NextHop.IsUnspecified() {
		s.log.Warn("skipping unreadable BGP path", "event", "path-skipped", "reason", fmt.Sprintf("path %s: no next hop", p.Prefix))
		return netip.Addr{}, false
	}
	return p.NextHop, true
}

// BestChange is the new state of one prefix's best paths: the next hops of
// the learned paths that carry its traffic now (several with multipath), or
// none when it has no usable learned path any more (withdrawn, next hop
// unusable, or only our own path is left).
type BestChange struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr
}

// WatchBestPaths calls changed with the prefixes whose best paths changed,
// as GoBGP decides them: from inside GoBGP's server loop (its best-path hook,
// third_party/gobgp-patches/005), one call at a time, in the order GoBGP
// decided them; a later change of a prefix supersedes an earlier one.
// changed must note the changes and return at once, without calling the
// Speaker: GoBGP's server loop waits for it. In exchange no event is copied,
// queued or converted, so a burst of 100,000 changes costs what changed does
// with them, and no withdrawn path is held for a slow reader. changed may
// keep a change's NextHops but not the list, which the next call reuses (a
// list a call, one call per destination of an UPDATE, was most of what the
// watch allocated).
//
// A call with no changes (nil) means the caller must read BestPaths in full,
// because changes may have been missed: it comes once as soon as the watch
// is in place (changes before it are not reported). Nothing is passed on once
// ctx has ended: a speaker being stopped withdraws every path, which must not
// reach the kernel.
//
// It returns when ctx ends or the speaker stops.
func (s *Speaker) WatchBestPaths(ctx context.Context, changed func([]BestChange)) error {
	var changes []BestChange // reused: GoBGP's server loop calls one at a time
	err := s.server.SetBestPathHook(func(paths []server.BestPath) {
		if ctx.Err() != nil {
			return
		}
		if changes = s.bestChanges(changes[:0], paths); len(changes) > 0 {
			changed(changes)
		}
	})
	if err != nil {
		return fmt.Errorf("watching best paths: %w", err)
	}
	changed(nil)
	select {
	case <-ctx.Done():
	case <-s.stopped:
	}
	// GoBGP's server loop outlives Stop (stop.go), so this returns.
	if err := s.server.SetBestPathHook(nil); err != nil {
		return fmt.Errorf("ending the best-path watch: %w", err)
	}
	return nil
}

// bestChanges reads one call of GoBGP's best-path hook, appending to
// changes. With multipath on (always, see New), GoBGP v3.37.0 passes for
// every destination whose equal-cost set changed the whole new set (server.go
// propagateUpdateToNeighbors, destination.go GetChanges), or the best path
// marked as a withdrawal when none is left; its paths are consecutive, and a
// call carries the destinations one received path changed (one, for a
// unicast route). (GoBGP passes the best paths alone only when no multipath
// set changed, and a best path cannot change without its set changing:
// Path.Equal compares source and attributes.) The full pass the caller runs
// periodically repairs anything a change got wrong.
func (s *Speaker) bestChanges(changes []BestChange, paths []server.BestPath) []BestChange {
	for _, p := range paths {
		// A call holds one or a few destinations: a linear look-up.
		i := slices.IndexFunc(changes, func(c BestChange) bool { return c.Prefix == p.Prefix })
		if i < 0 {
			i = len(changes)
			changes = append(changes, BestChange{Prefix: p.Prefix})
		}
		nh, ok := s.usableNextHop(p)
		if ok && !slices.Contains(changes[i].NextHops, nh) {
			changes[i].NextHops = append(changes[i].NextHops, nh)
		}
	}
	return changes
}

// WatchSessionsUp calls up each time a neighbor's session reaches
// Established, from GoBGP's own peer events: the agent waits for its
// sessions before it takes pods (plan.NetworkReady), and learns of one at
// once rather than on its next look. up should only note the event.
//
// It returns when ctx ends or the speaker stops.
func (s *Speaker) WatchSessionsUp(ctx context.Context, up func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}
	err := s.server.WatchEvent(ctx, req, func(r *api.WatchEventResponse) {
		p := r.GetPeer()
		if p.GetType() == api.WatchEventResponse_PeerEvent_STATE &&
			p.GetPeer().GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			up()
		}
	})
	if err != nil {
		return fmt.Errorf("watching sessions: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-s.stopped:
	}
	return nil
}
