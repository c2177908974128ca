package plan

import (
	"net/netip"
	"slices"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/routes"
)

// KernelRoutes is the kernel table the learned best paths ask for: every
// path but those via this node's own addresses and those inside its own pod
// CIDRs, which are the bridge's connected routes and never via a peer.
func KernelRoutes(paths []bgp.Path, self Self) []routes.Route {
	out := make([]routes.Route, 0, len(paths))
	for _, p := range paths {
		if self.isOwnAddr(p.NextHop) || self.owns(p) {
			continue
		}
		out = append(out, routes.Route{Prefix: p.Prefix, Gateway: p.NextHop})
	}
	return out
}

// KernelChanges is KernelRoutes for best-path changes, appended to dst: the
// changes of prefixes inside this node's own pod CIDRs are dropped (such a
// prefix never gets a kernel route of ours, so there is nothing to change),
// and next hops that are this node's own addresses are left out, so a prefix
// left with none loses its route. A change's gateways are its next hops,
// shared, unless one of them is left out: the route loop calls this for
// every few changes, and a copy each was garbage.
func KernelChanges(dst []routes.Change, changes []bgp.BestChange, self Self) []routes.Change {
	for _, c := range changes {
		if self.owns(bgp.Path{Prefix: c.Prefix}) {
			continue
		}
		gws := c.NextHops
		if slices.ContainsFunc(gws, self.isOwnAddr) {
			gws = slices.DeleteFunc(slices.Clone(gws), self.isOwnAddr)
		}
		dst = append(dst, routes.Change{Prefix: c.Prefix, Gateways: gws})
	}
	return dst
}

// isOwnAddr says whether a is one of this node's own addresses.
func (s Self) isOwnAddr(a netip.Addr) bool {
	return a == s.IP || (s.IP6.IsValid() && a == s.IP6)
}

func (s Self) owns(p bgp.Path) bool {
	for _, c := range s.PodCIDRs {
		if c.Overlaps(p.Prefix) {
			return true
		}
	}
	return false
}

// AdvertisedNow is what the speaker may announce in this pass. A pod CIDR is
// announced only once this node can carry the traffic it attracts: the
// conflist and the bridge exist and the kernel has the routes learned so far.
// Until then, or while one of them fails, what was announced stays: a
// transient failure must not withdraw a working node's routes.
func AdvertisedNow(want []bgp.Path, dataPlaneReady bool, announced []bgp.Path) []bgp.Path {
	if dataPlaneReady {
		return want
	}
	return announced
}
