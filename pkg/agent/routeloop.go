package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nodebgp/router/pkg/plan"
)

// routeLoop keeps the kernel's routes of our protocol equal to the speaker's
// best paths. It runs on best-path changes, link events and a timer; each
// pass reads the RIB and the kernel afresh, so a route deleted by hand or
// lost with a link comes back, and nothing depends on a private cache that
// could drift.
func (a *agent) routeLoop(ctx context.Context, changed trigger) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	st := routeState{start: a.now()}
	for {
		a.routePass(ctx, &st)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// routeState is what the route loop remembers between passes.
type routeState struct {
	start time.Time // when this speaker started
	// prune is set once stale routes of our protocol may be deleted.
	prune bool
}

// routePass syncs the kernel once. The first sync of the best paths opens
// the gate for announcing our pod CIDRs (see nodePass) and makes the agent
// ready. A route that fails does not keep the gate shut: the others are in
// the kernel, and the failure is reported and retried by the next pass.
func (a *agent) routePass(ctx context.Context, st *routeState) {
	if !st.prune {
		st.prune = a.ribConverged(ctx, st.start)
	}
	synced, err := a.syncRoutes(ctx, st.prune)
	a.report("routes", err)
	if synced && !a.routesSyncDone() {
		close(a.routesSynced)
		a.health.SetReady(true)
		a.log.Info("first route sync done", "event", "routes-synced")
	}
}

// ribConverged tells when stale routes of our protocol may be pruned. Right
// after a start the RIB is still filling: pruning then would delete routes to
// nodes that are merely not re-learned yet and drop their traffic. So we
// wait until every configured peer has sent its End-of-RIB, or the restart
// time ran out.
func (a *agent) ribConverged(ctx context.Context, start time.Time) bool {
	if a.now().Sub(start) >= a.cfg.RestartTime {
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

// syncRoutes makes the kernel's routes the best paths'; synced is false when
// the best paths could not be read, so nothing was synced.
func (a *agent) syncRoutes(ctx context.Context, prune bool) (synced bool, err error) {
	paths, err := a.speaker.BestPaths(ctx)
	if err != nil {
		return false, fmt.Errorf("reading best paths: %w", err)
	}
	began := a.now()
	res, err := a.kernel.Sync(ctx, plan.KernelRoutes(paths, a.self), prune)
	a.observeRouteSync(res, a.now().Sub(began), err)
	for _, r := range res.Unreachable {
		a.log.Debug("next hop not on a connected subnet; route left out", "event", "unreachable", "prefix", r.Prefix, "nexthop", r.Gateway)
	}
	if res.Added+res.Replaced+res.Deleted > 0 {
		a.log.Info("kernel routes updated", "event", "routes", "added", res.Added, "replaced", res.Replaced, "deleted", res.Deleted, "unchanged", res.Unchanged)
	}
	return true, err
}
