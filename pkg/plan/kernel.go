package plan

import (
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
