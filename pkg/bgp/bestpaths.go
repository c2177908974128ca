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
// from GoBGP's own best-path events, one call per event and one goroutine at a
// time, in the order GoBGP decided them; a later change of a prefix
// supersedes an earlier one. changed should note the changes and return
// quickly: it holds up GoBGP's event delivery, not its best-path selection.
//
// A call with no changes (nil) means the caller must read BestPaths in full,
// because changes may have been missed: it comes once as soon as the watch
// is in place (changes before it are not reported), and for an event that
// cannot be read.
//
// It returns when ctx ends or the speaker stops.
func (s *Speaker) WatchBestPaths(ctx context.Context, changed func([]BestChange)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST}},
	}}
	// Binary-only events (third_party/gobgp-patches/002): we read only the
	// prefix and the next hops, not every attribute as a protobuf Any.
	err := s.server.WatchEvent(server.WithWatchOnlyBinary(ctx), req, func(r *api.WatchEventResponse) {
		paths := r.GetTable().GetPaths()
		if len(paths) == 0 {
			return
		}
		changed(s.bestChanges(paths))
	})
	if err != nil {
		return fmt.Errorf("watching best paths: %w", err)
	}
	changed(nil)
	select {
	case <-ctx.Done():
	case <-s.stopped:
	}
	return nil
}

// bestChanges reads one best-path event. With multipath on (always, see
// New), GoBGP v3.37.0 sends for every destination whose equal-cost set
// changed the whole new set (server.go:4354, destination.go:568 GetChanges),
// or the best path marked as a withdrawal when none is left; its paths are
// consecutive. (GoBGP sends the best paths alone only for an event in which
// no multipath set changed, and a best path cannot change without its set
// changing: Path.Equal compares source and attributes.) The full pass the
// caller runs periodically repairs anything an event got wrong.
func (s *Speaker) bestChanges(paths []*api.Path) []BestChange {
	var changes []BestChange
	index := make(map[netip.Prefix]int, len(paths))
	for _, p := range paths {
		prefix, err := eventPrefix(p)
		if err != nil {
			s.log.Warn("unreadable best-path event; reading the RIB in full", "event", "path-skipped", "reason", err.Error())
			return nil
		}
		i, seen := index[prefix]
		if !seen {
			i = len(changes)
			index[prefix] = i
			changes = append(changes, BestChange{Prefix: prefix})
		}
		if !usableLearned(p) {
			continue
		}
		nh, err := eventNextHop(p)
		if err != nil {
			s.log.Warn("skipping unreadable BGP path", "event", "path-skipped", "reason", fmt.Sprintf("path %s from %q: next hop: %v", prefix, p.GetNeighborIp(), err))
			continue
		}
		if !slices.Contains(changes[i].NextHops, nh) {
			changes[i].NextHops = append(changes[i].NextHops, nh)
		}
	}
	return changes
}

// eventPrefix reads an event path's prefix in either of GoBGP's forms: the
// protobuf Any of v3.37.0's WatchEvent, or the wire bytes of a binary-only
// path (what a GoBGP patched to send best-path events binary-only gives;
// see docs/benchmarks.md).
func eventPrefix(p *api.Path) (netip.Prefix, error) {
	if p.GetNlri() == nil && len(p.GetNlriBinary()) > 0 {
		return prefixFromWire(p.GetNlriBinary(), p.GetFamily().GetAfi() == api.Family_AFI_IP)
	}
	return prefixFromNLRI(p.GetNlri())
}

// eventNextHop is eventPrefix for the next hop.
func eventNextHop(p *api.Path) (netip.Addr, error) {
	if len(p.GetPattrs()) == 0 && len(p.GetPattrsBinary()) > 0 {
		path, err := pathFromBinary(p)
		return path.NextHop, err
	}
	return nextHopFromAttrs(p.GetPattrs())
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
