package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

// ReconcilerParams configures a Reconciler.
type ReconcilerParams struct {
	Logger *slog.Logger
	// Kernel is where routes are read and written; nil means a netlink
	// socket in the network namespace of the first Sync's thread.
	Kernel Kernel
	// Table is the routing table to manage; 0 means main.
	Table int
}

// Reconciler keeps the kernel's routes of Protocol in one table equal to a
// desired set. It keeps no record of what it installed: every Sync reads the
// kernel afresh, so a route deleted by hand or flushed with a link comes back,
// and a restarted agent picks up where the last one left off.
type Reconciler struct {
	log   *slog.Logger
	table int

	mu     sync.Mutex // one Sync at a time: each one's diff assumes it is alone
	kernel Kernel
}

// NewReconciler returns a Reconciler; it touches nothing until Sync.
func NewReconciler(p ReconcilerParams) *Reconciler {
	log := p.Logger
	if log == nil {
		log = slog.Default().With("component", "routes")
	}
	table := p.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	return &Reconciler{log: log, table: table, kernel: p.Kernel}
}

// Sync makes the kernel carry the desired routes, each via its gateway on the
// link whose connected subnet holds it, with Protocol. Routes that are already
// right are not touched. With pruneStale, routes of Protocol that are not
// desired are deleted; without it (right after a restart, before the RIB is
// complete) nothing is deleted.
//
// Sync reads the kernel with one link dump, one address dump and one route
// dump, whatever the number of routes. A failure on one route does not stop
// the others: the errors are joined, each naming its route, and the next Sync
// retries. Routes with an unusable next hop, or whose prefix a route we did not
// make already holds, are skipped and listed in the result.
//
// ctx is checked before the kernel is read and again before the writes. Netlink
// calls cannot be cancelled, so once the batch of writes has started it runs to
// the end: a Sync cut short leaves the kernel part old and part new, each route
// whole, and the next Sync carries on.
func (r *Reconciler) Sync(ctx context.Context, desired []Route, pruneStale bool) (SyncResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return SyncResult{}, fmt.Errorf("syncing routes: %w", err)
	}
	if r.kernel == nil {
		h, err := newKernel()
		if err != nil {
			return SyncResult{}, err
		}
		r.kernel = h
	}

	wanted, invalid := groupDesired(desired)
	on, err := readOnLink(r.kernel)
	if err != nil {
		return SyncResult{}, errors.Join(append(invalid, err)...)
	}
	act, err := readActual(r.kernel, r.table, wanted)
	if err != nil {
		return SyncResult{}, errors.Join(append(invalid, err)...)
	}
	if act.interrupted && pruneStale {
		r.log.Info("route table changed during the dump; not pruning this time", "event", "sync", "reason", "dump-interrupted")
	}
	pl := makePlan(wanted, act, on, r.table, pruneStale)
	r.logSkipped(pl)
	if err := ctx.Err(); err != nil && len(pl.writes) > 0 {
		return SyncResult{}, fmt.Errorf("syncing routes: %d writes not started: %w", len(pl.writes), err)
	}
	res, errs := apply(r.kernel, pl)
	r.log.Debug("routes synced", "event", "sync", "added", res.Added, "replaced", res.Replaced,
		"deleted", res.Deleted, "unchanged", res.Unchanged, "unreachable", len(res.Unreachable),
		"foreign", len(res.Foreign), "errors", len(errs))
	return res, errors.Join(append(invalid, errs...)...)
}

// logSkipped logs the decisions the result does not explain by itself.
// Unreachable routes are logged at debug level only: the caller gets them by
// name in the result and decides how loud to be.
func (r *Reconciler) logSkipped(pl plan) {
	for _, f := range pl.foreign {
		r.log.Warn("a route we did not make holds this prefix; leaving it alone", "event", "skip",
			"prefix", f.Prefix, "nexthop", f.Gateway, "reason", "foreign-route")
	}
	for _, u := range pl.unreachable {
		r.log.Debug("route not installed", "event", "skip", "prefix", u.route.Prefix, "nexthop", u.route.Gateway, "reason", u.reason)
	}
}
