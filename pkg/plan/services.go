package plan

import (
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/pkg/bgp"
)

// planServices turns what the Services ask (Inputs.Services) into Service
// routes with the node IP of their family as next hop, and puts every
// Service route of the cluster into the import filter. A route of a family
// this node has no address of cannot be announced: a problem naming it.
func (p *Plan) planServices(in Inputs) {
	p.Policy.ServicePrefixes = in.Services.Reject
	p.Problems.Services = append(p.Problems.Services, in.Services.Problems...)
	ips := in.Self.IPs()
	for _, r := range in.Services.Announce {
		nh, ok := nodeIPOfFamily(ips, r.Addr().Is4())
		if !ok {
			p.Problems.Services = append(p.Problems.Services, fmt.Errorf("service route %s: node %q has no address of its family to announce it with", r, in.Settings.NodeName))
			continue
		}
		p.Services = append(p.Services, bgp.Path{Prefix: r, NextHop: nh})
	}
}

func nodeIPOfFamily(ips []netip.Addr, v4 bool) (netip.Addr, bool) {
	for _, ip := range ips {
		if ip.IsValid() && ip.Is4() == v4 {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
