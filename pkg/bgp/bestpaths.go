package bgp

import (
	"context"
	"fmt"

	api "github.com/osrg/gobgp/v3/api"
)

// BestPaths returns the best path of every IPv4 and IPv6 unicast prefix
// that was learned from a peer, sorted; the paths this speaker originates
// are not included. Multipath: a prefix appears once per next hop when
// several peers announce it equally well (same iBGP/eBGP, LOCAL_PREF,
// AS-path length, ORIGIN and MED), so that the kernel can spread traffic
// over all of them (ECMP). Stale paths that a restarting peer's graceful restart
// keeps are included: keeping them routed is the point. A path that cannot
// be read is logged and skipped, so one bad path never hides the others.
func (s *Speaker) BestPaths(ctx context.Context) ([]Path, error) {
	dsts, err := s.listGlobal(ctx)
	if err != nil {
		return nil, err
	}
	paths, errs := bestLearned(dsts, s.cfg.ASN)
	for _, err := range errs {
		s.log.Warn("skipping unreadable BGP path", "event", "path-skipped", "reason", err.Error())
	}
	return paths, nil
}

// WatchBestPaths calls changed whenever GoBGP's best paths change (learned
// or local, either family), from one goroutine at a time. changed should
// only note that work is due (poke a channel) and return; the caller then
// reads BestPaths. It returns when ctx ends or the speaker stops.
func (s *Speaker) WatchBestPaths(ctx context.Context, changed func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST}},
	}}
	err := s.server.WatchEvent(ctx, req, func(r *api.WatchEventResponse) {
		if len(r.GetTable().GetPaths()) > 0 {
			changed()
		}
	})
	if err != nil {
		return fmt.Errorf("watching best paths: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-s.stopped:
	}
	return nil
}
