package routes

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// apply writes a plan in one batched call and counts the outcome. Every
// write is tried; the errors are returned together, each naming its route.
// record, our routes as they were before, is brought up to date with every
// write that took effect.
func apply(k Kernel, pl plan, record *record) (SyncResult, []error) {
	res := SyncResult{Unchanged: pl.unchanged, Foreign: pl.foreign}
	for _, u := range pl.unreachable {
		res.Unreachable = append(res.Unreachable, u.route)
	}
	var errs []error
	for i, err := range k.WriteRoutes(pl.writes) {
		w := pl.writes[i]
		switch {
		case err == nil:
			count(&res, w.Op)
			remember(record, w)
		case w.Op == OpDelete && errors.Is(err, unix.ESRCH):
			// Gone since the dump (a link went down, say): nothing to do.
			remember(record, w)
		default:
			errs = append(errs, writeError(w, err))
		}
	}
	return res, errs
}

// remember records the route a successful write left: the new route of an
// add or replace, none after the delete of our route under our key.
func remember(record *record, w RouteWrite) {
	switch {
	case w.Op == OpDelete && w.Tos == 0 && w.Priority == defaultMetric(w.Dst):
		record.delete(w.Dst)
	case w.Op == OpAdd || w.Op == OpReplace:
		if len(w.NextHops) > 0 {
			record.set(w.Dst, ourRouteFor(w.NextHops))
		} else {
			record.set(w.Dst, ourRoute{hop: NextHop{Gateway: w.Gateway, LinkIndex: w.LinkIndex}})
		}
	}
}

func count(res *SyncResult, op WriteOp) {
	switch op {
	case OpAdd:
		res.Added++
	case OpReplace:
		res.Replaced++
	case OpDelete:
		res.Deleted++
	}
}

func writeError(w RouteWrite, err error) error {
	switch w.Op {
	case OpAdd:
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding route %s: a route appeared for the prefix since the dump: %w", w, err)
		}
		return fmt.Errorf("adding route %s: %w", w, err)
	case OpReplace:
		return fmt.Errorf("replacing route %s: %w", w, err)
	default:
		return fmt.Errorf("deleting stale route %s: %w", w, err)
	}
}
