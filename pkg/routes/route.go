package routes

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Protocol marks every route the agent installs (rtm_protocol, shown by
// `ip route show proto 78`). It is how we tell our routes from everyone
// else's: we only ever change or delete routes that carry it.
const Protocol netlink.RouteProtocol = 78

// Route is a learned path the kernel should carry: Prefix via Gateway, a next
// hop on one of this node's connected subnets. Several Routes for one prefix
// make one multipath (ECMP) route over all their reachable gateways.
type Route struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

func (r Route) String() string {
	return fmt.Sprintf("%s via %s", r.Prefix, r.Gateway)
}

// Change is the new state of one prefix, for Reconciler.Update: the
// gateways its route should go via now (several make a multipath route), or
// none when it should have no route of ours any more.
type Change struct {
	Prefix   netip.Prefix
	Gateways []netip.Addr
}

// SyncResult counts what one Sync did. Routes that were skipped are listed,
// not counted, so that the caller can report them by name.
type SyncResult struct {
	Added, Replaced, Deleted, Unchanged int
	// Unreachable routes were not installed: their next hop is not on a
	// connected subnet of an up, non-loopback link (or is ambiguous, or is one
	// of our own addresses).
	Unreachable []Route
	// Foreign routes were not installed because a route we did not make
	// already holds the prefix in our table; we never overwrite those.
	Foreign []Route
	// Resync is set by an Update that could not apply every change from
	// what the last Sync found (there was none yet, a route appeared that it
	// did not know of, or a write failed): the caller should Sync in full.
	Resync bool
}
