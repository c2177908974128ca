package agent

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nodebgp/router/pkg/routes"
)

// routeLoop keeps the kernel's routes of our protocol equal to GoBGP's best
// paths. It runs on best-path changes, link events and a timer; each pass reads
// the RIB and the kernel afresh, so a route deleted by hand or lost with a link
// comes back, and nothing depends on a private cache that could drift.
func (a *agent) routeLoop(ctx context.Context, changed trigger) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	start := time.Now()
	prune := false
	firstDone := false
	for {
		if !prune {
			prune = a.ribConverged(ctx, start)
		}
		err := a.syncRoutes(ctx, prune)
		a.report("routes", err)
		if !firstDone {
			firstDone = true
			close(a.routesSynced)
			a.health.SetReady(true)
			a.log.Info("first route sync done", "event", "routes-synced")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// ribConverged tells when stale routes of our protocol may be pruned. Right after
// a start the RIB is still filling: pruning then would delete routes to nodes
// that are merely not re-learned yet and drop their traffic. So we wait until
// every configured peer has sent its End-of-RIB, or the restart time ran out.
func (a *agent) ribConverged(ctx context.Context, start time.Time) bool {
	if time.Since(start) >= a.cfg.RestartTime {
		a.log.Info("pruning stale routes: restart time elapsed before every peer converged", "event", "rib-converged")
		return true
	}
	if !a.peersApplied.Load() {
		return false
	}
	ok, err := a.speaker.Converged(ctx)
	if err != nil {
		a.log.Warn("cannot tell whether peers converged", "event", "rib-converged", "reason", err.Error())
		return false
	}
	if ok {
		a.log.Info("every peer sent End-of-RIB: stale routes can now be pruned", "event", "rib-converged")
	}
	return ok
}

func (a *agent) syncRoutes(ctx context.Context, prune bool) error {
	paths, err := a.speaker.BestPaths(ctx)
	if err != nil {
		return fmt.Errorf("reading best paths: %w", err)
	}
	desired := make([]routes.Route, 0, len(paths))
	for _, p := range paths {
		if p.NextHop == a.nodeIP || p.NextHop == a.nodeIP6 || a.ownsPrefix(p.Prefix) {
			continue
		}
		desired = append(desired, routes.Route{Prefix: p.Prefix, Gateway: p.NextHop})
	}
	began := time.Now()
	res, err := a.kernel.Sync(ctx, desired, prune)
	a.observeRouteSync(res, time.Since(began))
	for _, r := range res.Unreachable {
		a.log.Debug("next hop not on a connected subnet; route left out", "event", "unreachable", "prefix", r.Prefix, "nexthop", r.Gateway)
	}
	if res.Added+res.Replaced+res.Deleted > 0 {
		a.log.Info("kernel routes updated", "event", "routes", "added", res.Added, "replaced", res.Replaced, "deleted", res.Deleted, "unchanged", res.Unchanged)
	}
	return err
}

// ownsPrefix keeps our own pod CIDRs out of the kernel table: they are the
// bridge's connected routes, never via a peer.
func (a *agent) ownsPrefix(p netip.Prefix) bool {
	for _, c := range a.initialCIDRs {
		if c.Overlaps(p) {
			return true
		}
	}
	return false
}
