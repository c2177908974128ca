package plan

import (
	"net/netip"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/routes"
)

// KernelRoutes is the kernel table the learned best paths ask for: every
// path but those via this node's own addresses and those inside its own pod
// CIDRs, which are the bridge's connected routes and never via a peer.
func KernelRoutes(paths []bgp.Path, self Self) []routes.Route {
	out := make([]routes.Route, 0, len(paths))
	for _, p := range paths {
		if p.NextHop == self.IP || (self.IP6.IsValid() && p.NextHop == self.IP6) || self.owns(p) {
			continue
		}
		out = append(out, routes.Route{Prefix: p.Prefix, Gateway: p.NextHop})
	}
	return out
}

// KernelChanges is KernelRoutes for best-path changes: the changes of
// prefixes inside this node's own pod CIDRs are dropped (such a prefix never
// gets a kernel route of ours, so there is nothing to change), and next hops
// that are this node's own addresses are left out, so a prefix left with
// none loses its route.
func KernelChanges(changes []bgp.BestChange, self Self) []routes.Change {
	out := make([]routes.Change, 0, len(changes))
	for _, c := range changes {
		if self.owns(bgp.Path{Prefix: c.Prefix}) {
			continue
		}
		rc := routes.Change{Prefix: c.Prefix, Gateways: make([]netip.Addr, 0, len(c.NextHops))}
		for _, nh := range c.NextHops {
			if nh != self.IP && !(self.IP6.IsValid() && nh == self.IP6) {
				rc.Gateways = append(rc.Gateways, nh)
			}
		}
		out = append(out, rc)
	}
	return out
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
