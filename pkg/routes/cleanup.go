package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Cleanup deletes every route of Protocol, IPv4 and IPv6, in every table of
// the current network namespace, and nothing else. It returns how many it
// deleted. It is for `router cleanup`, when the agent is gone for good.
// ctx is checked before each pass; a pass's batch of deletes, once started,
// runs to the end (netlink calls cannot be cancelled).
func Cleanup(ctx context.Context, logger *slog.Logger) (int, error) {
	h, err := newKernel()
	if err != nil {
		return 0, err
	}
	defer h.Close()
	return cleanup(ctx, h, logger)
}

// cleanupPasses bounds the dump-and-delete passes: a pass that was
// interrupted by other changes to the table may have missed routes.
const cleanupPasses = 3

func cleanup(ctx context.Context, k Kernel, logger *slog.Logger) (int, error) {
	if logger == nil {
		logger = slog.Default()
	}
	deleted := 0
	for range cleanupPasses {
		if err := ctx.Err(); err != nil {
			return deleted, fmt.Errorf("deleting our routes: %w", err)
		}
		ours, interrupted, err := listOurs(k)
		if err != nil {
			return deleted, err
		}
		writes := make([]RouteWrite, len(ours))
		for i, r := range ours {
			writes[i] = deleteWrite(r)
		}
		var errs []error
		for i, err := range k.WriteRoutes(writes) {
			switch {
			case err == nil:
				deleted++
			case !errors.Is(err, unix.ESRCH): // ESRCH: gone already
				errs = append(errs, fmt.Errorf("deleting route %s (table %d): %w", writes[i], writes[i].Table, err))
			}
		}
		if len(errs) > 0 || !interrupted {
			logger.Info("deleted our routes", "event", "cleanup", "deleted", deleted, "errors", len(errs))
			return deleted, errors.Join(errs...)
		}
	}
	logger.Info("deleted our routes", "event", "cleanup", "deleted", deleted)
	return deleted, nil
}

// listOurs dumps every table once and keeps the routes of Protocol.
func listOurs(k Kernel) ([]netlink.Route, bool, error) {
	var ours []netlink.Route
	// Table 0 with the table filter set asks for every table, not just main.
	filter := &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_UNSPEC}
	err := k.RouteListFilteredIter(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
		ours = append(ours, r)
		return true
	})
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		return ours, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing routes of protocol %d: %w", Protocol, err)
	}
	return ours, false, nil
}
