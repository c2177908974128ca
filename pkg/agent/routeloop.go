package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/routes"
)

// routeLoop keeps the kernel's routes of our protocol equal to the speaker's
// best paths. Best-path changes come from GoBGP's own events and are applied
// as they come, batched per wakeup (routes.Reconciler.Update): the cost of a
// pass is the size of the change, not of the table. A full pass reads the
// whole RIB and the kernel afresh: first, then on a timer, on link events,
// and whenever the incremental path cannot be trusted; so a route deleted by
// hand or lost with a link comes back, and nothing depends for long on a
// cache that could drift.
//
// Until stale routes may be pruned, the loop also wakes every
// convergePollInterval to ask whether the RIB has converged: nothing else
// wakes it when the last End-of-RIB or the end of the restart time comes
// without a best-path change, and the stale routes would stay until the
// next sync period.
func (a *agent) routeLoop(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	poll := time.NewTicker(convergePollInterval)
	defer poll.Stop()
	st := a.newRouteState()
	for {
		a.routePass(ctx, &st)
		converging := poll.C
		if st.prune {
			poll.Stop()
			converging = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.routeChanges.poke:
		case <-tick.C:
			a.routeChanges.resync(fullPeriod)
		case <-converging:
		}
	}
}

// convergePollInterval is how often the route loop asks whether the RIB
// has converged while it has not: one neighbor listing a second, for the
// minutes of a restart at most, so that stale routes go within a second of
// the last End-of-RIB.
const convergePollInterval = time.Second

// convergeAskInterval bounds how often the route loop asks the speaker
// whether the RIB converged, however many passes it runs: the answer lists
// every neighbor through GoBGP's server loop (26 µs with 2 peers, 0.76 ms
// and 0.8 MB with 100, 4.2 ms with 500), and a restart's table arrives in
// thousands of passes before the last End-of-RIB. Half the poll interval,
// so that the poll's own wake-up always asks.
const convergeAskInterval = convergePollInterval / 2

// routeState is what the route loop remembers between passes.
type routeState struct {
	start time.Time // when this speaker started
	// prune is set once stale routes of our protocol may be deleted: from
	// the start after a fresh one, else once the RIB converged.
	prune bool
	// synced is set by the first full pass that read the best paths:
	// before it, changes are not applied one by one.
	synced bool
	// askedConverged is when the speaker was last asked whether the RIB
	// converged (see convergeAskInterval).
	askedConverged time.Time
	// kernelChanges is the list each incremental pass fills, reused: at
	// most a batch of changes (maxBatch).
	kernelChanges []routes.Change
}

// newRouteState is the route loop's state at its start. After a fresh
// start (no route of ours in the kernel) every route of ours is one this
// speaker wrote from its best paths, and each goes when its path goes, so
// none can be stale: pruning is on from the first pass, and the full pass
// that looks for stale routes once the RIB converged, which at 100,000
// routes takes a fifth of a second in the middle of the table's arrival, is
// not needed. After a restart the routes the kernel kept wait for the RIB
// to converge, as before.
func (a *agent) newRouteState() routeState {
	return routeState{start: a.now(), prune: a.startedFresh}
}

// routePass applies what routeChanges collected: a full sync when one is
// due, else the best-path changes. The first full sync opens the gate for
// announcing our pod CIDRs (see nodePass) and makes the agent ready; an
// incremental one never does. A route that fails does not keep the gate
// shut: the others are in the kernel, and the failure is reported and
// retried by a full pass.
func (a *agent) routePass(ctx context.Context, st *routeState) {
	changes, gone, full := a.routeChanges.take()
	if full == "" && a.kernel.Holds(gone) {
		// Not only our own deletions (which the record has dropped
		// already): a route of ours went by someone else's hand.
		a.log.Debug("a route of ours was deleted outside the agent: full pass", "event", "route-pass")
		full = fullDeleted
	}
	if !st.prune {
		if st.prune = a.ribConverged(ctx, st); st.prune && full == "" {
			// Stale routes are only found by a full pass.
			full = fullConverged
		}
	}
	if full == "" && st.synced {
		if len(changes) > 0 {
			st.kernelChanges = plan.KernelChanges(st.kernelChanges[:0], changes, a.self)
			a.report("routes", a.updateRoutes(ctx, st.kernelChanges, st.prune))
		}
		return
	}
	if full == "" {
		full = fullStart
	}
	synced, err := a.syncRoutes(ctx, st.prune, full)
	a.report("routes", err)
	if !synced {
		return
	}
	st.synced = true
	if !a.routesSyncDone() {
		close(a.routesSynced)
		a.health.SetReady(true)
		a.log.Info("first route sync done", "event", "routes-synced")
	}
}

// ribConverged tells when stale routes of our protocol may be pruned. Right
// after a start the RIB is still filling: pruning then would delete routes to
// nodes that are merely not re-learned yet and drop their traffic. So we
// wait until every configured peer has sent its End-of-RIB, or the restart
// time ran out. The speaker is asked at most once per convergeAskInterval.
func (a *agent) ribConverged(ctx context.Context, st *routeState) bool {
	now := a.now()
	if now.Sub(st.start) >= a.cfg.RestartTime {
		a.log.Info("pruning stale routes: restart time elapsed before every peer converged", "event", "rib-converged")
		return true
	}
	if !a.peersApplied.Load() || now.Sub(st.askedConverged) < convergeAskInterval {
		return false
	}
	st.askedConverged = now
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

// syncRoutes makes the kernel's routes the best paths', a full pass asked
// for by why; synced is false when the best paths could not be read, so
// nothing was synced.
func (a *agent) syncRoutes(ctx context.Context, prune bool, why string) (synced bool, err error) {
	a.health.Metrics().RouteFullSyncs.WithLabelValues(why).Inc()
	paths, err := a.speaker.BestPaths(ctx)
	if err != nil {
		return false, fmt.Errorf("reading best paths: %w", err)
	}
	began := a.now()
	res, err := a.kernel.Sync(ctx, plan.KernelRoutes(paths, a.self), prune)
	took := a.now().Sub(began)
	a.kernelRoutes = res.Added + res.Replaced + res.Unchanged
	a.observeRouteSync(a.kernelRoutes, took, err)
	a.logRouteResult(res, took, "sync")
	return true, err
}

// updateRoutes applies best-path changes to the kernel. When the kernel side
// cannot trust what it knows for a change, a full pass follows at once.
func (a *agent) updateRoutes(ctx context.Context, changes []routes.Change, prune bool) error {
	began := a.now()
	res, err := a.kernel.Update(ctx, changes, prune)
	took := a.now().Sub(began)
	a.kernelRoutes += res.Added - res.Deleted
	a.observeRouteSync(a.kernelRoutes, took, err)
	a.logRouteResult(res, took, "update")
	if res.Resync || err != nil {
		a.routeChanges.resync(fullRecord)
	}
	return err
}

func (a *agent) logRouteResult(res routes.SyncResult, took time.Duration, how string) {
	for _, r := range res.Unreachable {
		a.log.Debug("next hop not on a connected subnet; route left out", "event", "unreachable", "prefix", r.Prefix, "nexthop", r.Gateway)
	}
	switch {
	case res.Added+res.Replaced+res.Deleted == 0:
	case how == "update":
		// Best-path events come all the time on a busy RIB: one line each
		// would be most of the log. Asked first: the arguments cost
		// allocations, thousands of passes a second while a peer sends.
		if !a.log.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		a.log.Debug("kernel routes updated", "event", "routes", "pass", how, "added", res.Added, "replaced", res.Replaced, "deleted", res.Deleted, "unchanged", res.Unchanged, "took", took.Round(time.Millisecond).String())
	default:
		a.log.Info("kernel routes updated", "event", "routes", "pass", how, "added", res.Added, "replaced", res.Replaced, "deleted", res.Deleted, "unchanged", res.Unchanged, "took", took.Round(time.Millisecond).String())
	}
}
