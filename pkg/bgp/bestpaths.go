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
// several peers announce it equally well (same iBGP/eBGP, LOCAL_PREF,
// AS-path length, ORIGIN and MED), so that the kernel can spread traffic
// over all of them (ECMP). Stale paths that a restarting peer's graceful restart
// keeps are included: keeping them routed is the point. A path that cannot
// be read is logged and skipped, so one bad path never hides the others.
//
// The RIB is streamed: each destination is converted as GoBGP hands it over
// and dropped, so only the result (a Path per route) is ever held, never the
// RIB in GoBGP's API form (about 1.5 KB a path); and it is read in GoBGP's
// binary-only form (see binary.go).
func (s *Speaker) BestPaths(ctx context.Context) ([]Path, error) {
	var out []Path
	keyOf := func(p *api.Path) multipathKey { return multipathKeyOfBinary(p, s.cfg.ASN) }
	err := s.eachBinaryDestination(ctx, func(d *api.Destination) {
		for _, p := range multipathsBy(d.GetPaths(), keyOf) {
			path, err := pathFromBinary(p)
			if err != nil {
				s.log.Warn("skipping unreadable BGP path", "event", "path-skipped", "reason", err.Error())
				continue
			}
			out = append(out, path)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, comparePaths)
	return slices.Compact(out), nil
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
		if p.Withdrawal || p.NextHopInvalid || !p.Learned {
			continue
		}
		if !p.NextHop.IsValid() {
			s.log.Warn("skipping unreadable BGP path", "event", "path-skipped", "reason", fmt.Sprintf("path %s: no next hop", p.Prefix))
			continue
		}
		if !slices.Contains(changes[i].NextHops, p.NextHop) {
			changes[i].NextHops = append(changes[i].NextHops, p.NextHop)
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
