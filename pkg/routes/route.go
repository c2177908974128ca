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
}
