package routes

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// apply writes a plan in one batched call and counts the outcome. Every
// write is tried; the errors are returned together, each naming its route.
func apply(k Kernel, pl plan) (SyncResult, []error) {
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
		case w.Op == OpDelete && errors.Is(err, unix.ESRCH):
			// Gone since the dump (a link went down, say): nothing to do.
		default:
			errs = append(errs, writeError(w, err))
		}
	}
	return res, errs
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
