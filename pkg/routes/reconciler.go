package routes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
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
// desired set. Every Sync reads the kernel afresh, so a route deleted by hand
// or flushed with a link comes back, and a restarted agent picks up where the
// last one left off. Between two Syncs, Update applies changes of single
// prefixes against what the last Sync found and wrote since (its record),
// without reading the kernel.
type Reconciler struct {
	log   *slog.Logger
	table int

	mu     sync.Mutex // one Sync or Update at a time: each diff assumes it is alone
	kernel Kernel

	// The record: our routes as the last Sync found them, with every write
	// since; the links it found; the wanted prefixes a foreign route held.
	// record is nil until the first Sync that read the kernel.
	record  *record
	on      onLink
	foreign map[netip.Prefix]bool
	// learned are the prefixes a Sync or Update without pruneStale routed
	// since the last call with it (see pruning): their routes go when they
	// are no longer wanted, pruneStale or not. A call with pruneStale may
	// delete every route not wanted, so it needs none and drops them: the
	// agent prunes from convergence on, and a set of every prefix it ever
	// routed would be a second per-route map beside the record (megabytes
	// at 100,000 routes, never shrinking).
	learned map[netip.Prefix]bool
	// scratch holds Update's lists from one call to the next.
	scratch updateScratch
}

// updateScratch is the lists Update fills on every call, kept so that the
// route loop's passes (thousands while a peer sends a big table) do not
// each allocate them afresh.
type updateScratch struct {
	writes   []RouteWrite
	gateways []netip.Addr
	hops     []NextHop
}

// maxScratchWrites bounds the write list kept: a batch of the agent's route
// loop (4,096 changes) fits; a bigger call's list goes to the collector.
const maxScratchWrites = 4096

// keep takes Update's lists back, cleared: a multipath write's copy of its
// next hops must not outlive the call in a kept list.
func (s *updateScratch) keep(writes []RouteWrite, gateways []netip.Addr, hops []NextHop) {
	clear(writes)
	s.writes = writes[:0]
	if cap(writes) > maxScratchWrites {
		s.writes = nil
	}
	s.gateways, s.hops = gateways[:0], hops[:0]
}

// learn notes prefixes routed before pruning; a pruning call forgets them.
func (r *Reconciler) learn(pruneStale bool, ps ...netip.Prefix) {
	if pruneStale {
		r.learned = nil
		return
	}
	if r.learned == nil {
		r.learned = map[netip.Prefix]bool{}
	}
	for _, p := range ps {
		r.learned[p] = true
	}
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
	if err := r.openKernel(); err != nil {
		return SyncResult{}, err
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
	pl := makePlan(wanted, act, on, r.table, pruning{all: pruneStale, learned: r.learned})
	r.logSkipped(pl)
	if err := ctx.Err(); err != nil && len(pl.writes) > 0 {
		return SyncResult{}, fmt.Errorf("syncing routes: %d writes not started: %w", len(pl.writes), err)
	}
	res, errs := apply(r.kernel, pl, act.ours)
	r.record, r.on, r.foreign = act.ours, on, act.foreign
	r.learn(pruneStale, pl.kept...)
	r.log.Debug("routes synced", "event", "sync", "added", res.Added, "replaced", res.Replaced,
		"deleted", res.Deleted, "unchanged", res.Unchanged, "unreachable", len(res.Unreachable),
		"foreign", len(res.Foreign), "errors", len(errs))
	return res, errors.Join(append(invalid, errs...)...)
}

// openKernel opens the netlink sockets, on first use, in the calling
// thread's network namespace.
func (r *Reconciler) openKernel() error {
	if r.kernel != nil {
		return nil
	}
	h, err := newKernel()
	if err != nil {
		return err
	}
	r.kernel = h
	return nil
}

// WriterPort is the netlink port ID of the socket that writes our routes, 0
// until the first Sync, Update or AnyOurs opened it (or with a Kernel that is
// not the real one). The kernel puts the writer's port ID in the route
// notifications of its writes, so a watch of deleted routes can tell the
// agent's own deletions from everyone else's without reading them.
func (r *Reconciler) WriterPort() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.kernel.(interface{ WriterPort() uint32 }); ok {
		return w.WriterPort()
	}
	return 0
}

// AnyOurs reads the kernel: whether any table holds a route of Protocol,
// IPv4 or IPv6. An agent that starts and finds one is a restarted agent
// (the data plane outlives it); on a new or rebooted node there is none.
// The dump stops at the first one. A dump the kernel interrupted (the
// table changed meanwhile) that found none cannot tell, and is an error.
func (r *Reconciler) AnyOurs() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.openKernel(); err != nil {
		return false, err
	}
	return anyOurs(r.kernel)
}

func anyOurs(k Kernel) (bool, error) {
	found := false
	// Table 0 with the table filter set asks for every table (listOurs).
	filter := &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_UNSPEC}
	err := k.RouteListFilteredIter(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE, func(netlink.Route) bool {
		found = true
		return false
	})
	switch {
	case found:
		return true, nil
	case errors.Is(err, netlink.ErrDumpInterrupted):
		return false, fmt.Errorf("listing routes of protocol %d: the table changed during the dump", Protocol)
	case err != nil:
		return false, fmt.Errorf("listing routes of protocol %d: %w", Protocol, err)
	}
	return false, nil
}

// Holds tells whether the record holds a route of ours for any of the
// prefixes. The kernel reports every deletion of a route of Protocol; the
// agent's own deletions leave the record as they are written, so a deleted
// route the record still holds was deleted by someone else (by hand, or by
// another writer) and needs a Sync. Before the first Sync there is no record
// to tell: Holds says true.
func (r *Reconciler) Holds(prefixes []netip.Prefix) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.record == nil {
		return len(prefixes) > 0
	}
	for _, p := range prefixes {
		if r.record.has(p.Masked()) {
			return true
		}
	}
	return false
}

// Update applies changes of single prefixes: each prefix's route is made to
// go via its gateways, or, with pruneStale, our route for a prefix without
// gateways is deleted (without it nothing is deleted, as in Sync). A prefix
// listed twice takes its last change. Update sorts changes in place, by
// prefix, so that a prefix's changes are adjacent without a map of them (at
// 100,000 routes the per-call garbage is what the GC works for). It reads
// nothing from the kernel: it diffs against the record of the last Sync and
// the writes since, and resolves next hops against the links that Sync
// found, so the caller must Sync in full when links change. Routes already
// right are not touched.
//
// Where the record cannot be trusted to be complete, Update sets
// SyncResult.Resync instead of guessing: before the first Sync, and when an
// add finds the prefix taken (a route it did not know of: someone else's, or
// one added by hand). It never replaces or deletes a route the record does
// not hold as ours. A failed write is returned as in Sync and also asks for
// a Resync, which retries it.
func (r *Reconciler) Update(ctx context.Context, changes []Change, pruneStale bool) (SyncResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return SyncResult{}, fmt.Errorf("updating routes: %w", err)
	}
	if r.record == nil {
		return SyncResult{Resync: true}, nil
	}
	for i := range changes {
		changes[i].Prefix = changes[i].Prefix.Masked()
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return comparePrefix(a.Prefix, b.Prefix) })
	pl := plan{writes: slices.Grow(r.scratch.writes[:0], len(changes))}
	gws, hops := r.scratch.gateways[:0], r.scratch.hops[:0]
	var invalid []error
	for i, c := range changes {
		p := c.Prefix
		if i+1 < len(changes) && changes[i+1].Prefix == p {
			continue // a later change of p follows
		}
		if !p.IsValid() {
			invalid = append(invalid, fmt.Errorf("change of %s: no prefix", c.Prefix))
			continue
		}
		var errs []error
		gws, errs = changeHops(gws[:0], c)
		invalid = append(invalid, errs...)
		have, exists := r.record.get(p)
		hops = reachableNextHops(hops[:0], p, gws, r.on, &pl)
		switch {
		case len(hops) == 0:
			if exists && (pruneStale || r.learned[p]) {
				pl.writes = append(pl.writes, deleteOurs(p, have, r.table))
			}
		case r.foreign[p]:
			for _, h := range hops {
				pl.foreign = append(pl.foreign, Route{Prefix: p, Gateway: h.Gateway})
			}
		case exists && sameRoute(have, hops):
			pl.unchanged++
			r.learn(pruneStale, p)
		default:
			r.learn(pruneStale, p)
			want := RouteWrite{Op: OpAdd, Dst: p, Table: r.table}
			if len(hops) == 1 {
				want.Gateway, want.LinkIndex = hops[0].Gateway, hops[0].LinkIndex
			} else {
				want.NextHops = slices.Clone(hops) // hops is the next change's
			}
			if exists {
				want.Op = OpReplace
			}
			pl.writes = append(pl.writes, want)
		}
	}
	defer r.scratch.keep(pl.writes, gws, hops)
	// Adds, then replaces, then deletes, as in Sync: WriteOp's order. A
	// stable sort in place rather than three lists joined.
	slices.SortStableFunc(pl.writes, func(a, b RouteWrite) int { return cmp.Compare(a.Op, b.Op) })
	r.logSkipped(pl)
	if err := ctx.Err(); err != nil && len(pl.writes) > 0 {
		return SyncResult{}, fmt.Errorf("updating routes: %d writes not started: %w", len(pl.writes), err)
	}
	res, errs := apply(r.kernel, pl, r.record)
	for i := len(errs) - 1; i >= 0; i-- {
		// An add that finds its key taken met a route the record does not
		// know: the full Sync tells whose it is.
		if errors.Is(errs[i], unix.EEXIST) {
			errs = slices.Delete(errs, i, i+1)
		}
	}
	res.Resync = res.Added+res.Replaced+res.Deleted < len(pl.writes)
	if r.log.Enabled(ctx, slog.LevelDebug) { // its arguments cost an allocation each
		r.log.Debug("routes updated", "event", "update", "changes", len(changes), "added", res.Added, "replaced", res.Replaced,
			"deleted", res.Deleted, "unchanged", res.Unchanged, "unreachable", len(res.Unreachable),
			"foreign", len(res.Foreign), "errors", len(errs), "resync", res.Resync)
	}
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
