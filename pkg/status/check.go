package status

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/slimnode"
)

// Problem is one thing `router check` found wrong, about one node.
type Problem struct {
	Node, Message string
}

func (p Problem) String() string { return p.Node + ": " + p.Message }

// Check compares, for every node, the node-to-node sessions and the
// routes the cluster's design implies (a full mesh; with route reflectors,
// every reflector with every node and every client with the reflectors;
// none in ToR-only designs) with what the nodes' BGPNodeStates report, and
// lists what is missing or unexpected: a node without a status object, a
// session missing, unexpected or not established, the node's pod CIDRs
// not advertised, fewer kernel routes than the other nodes' pod CIDRs, a
// condition not true. Sessions with upstream routers are checked for their
// state only: the routers' side is not in the API. No problem means the
// fabric is healthy as far as the API can tell.
func Check(nodes []*slimnode.Node, objects []Object) []Problem {
	infos, invalid := nodeinfo.Cluster(nodes)
	var out []Problem
	for _, err := range invalid {
		out = append(out, Problem{Node: "(cluster)", Message: err.Error()})
	}
	byName := make(map[string]Object, len(objects))
	for _, o := range objects {
		byName[o.Metadata.Name] = o
	}
	reflector := map[string]bool{}
	for _, n := range nodes {
		cfg, _ := peering.ParseNodeConfig(n)
		reflector[n.Name] = cfg.RouteReflectorClusterID.IsValid()
	}
	anyReflector := slices.ContainsFunc(infos, func(i nodeinfo.Info) bool { return reflector[i.Name] })
	known := map[string]bool{}
	for _, self := range infos {
		known[self.Name] = true
		o, ok := byName[self.Name]
		if !ok {
			out = append(out, Problem{self.Name, "no BGPNodeState: its agent is not running, cannot reach the API server, or runs with --status-object=false"})
			continue
		}
		bad := func(f string, a ...any) { out = append(out, Problem{self.Name, fmt.Sprintf(f, a...)}) }
		s := o.Status

		// The node sessions the design implies, by address.
		want := map[netip.Addr]string{}
		otherCIDRs := 0
		for _, other := range infos {
			if other.Name == self.Name {
				continue
			}
			otherCIDRs += len(other.PodCIDRs)
			if s.Role == "tor-only" {
				continue
			}
			if anyReflector && !reflector[self.Name] && !reflector[other.Name] {
				continue // clients meet through the reflectors
			}
			for _, v4 := range []bool{true, false} {
				if firstOf(self, v4).IsValid() && firstOf(other, v4).IsValid() {
					want[firstOf(other, v4)] = other.Name
				}
			}
		}
		have := map[netip.Addr]bool{}
		for _, ss := range s.Sessions {
			addr, err := netip.ParseAddr(ss.Peer)
			if err != nil {
				bad("session with %q: not an address", ss.Peer)
				continue
			}
			have[addr] = true
			name := ss.Name
			if name == "" {
				name = ss.Kind
			}
			if ss.Kind == "node" {
				if _, ok := want[addr]; !ok {
					bad("unexpected session with %s (%s): the design (%s) implies none", addr, name, design(s.Role, anyReflector))
					continue
				}
			}
			if ss.State != bgp.StateEstablished {
				msg := fmt.Sprintf("session with %s (%s, %s) is %s", addr, name, ss.Kind, ss.State)
				if ss.Since != "" {
					msg += " since " + ss.Since
				}
				if ss.LastError != "" {
					msg += ": " + ss.LastError
				}
				bad("%s", msg)
			}
		}
		var missing []string
		for addr, name := range want {
			if !have[addr] {
				missing = append(missing, fmt.Sprintf("%s (%s)", addr, name))
			}
		}
		slices.Sort(missing)
		if len(missing) > 0 {
			bad("missing sessions the design (%s) implies: %s", design(s.Role, anyReflector), strings.Join(missing, ", "))
		}

		var cidrs []string
		for _, c := range self.PodCIDRs {
			cidrs = append(cidrs, c.String())
		}
		a, b := slices.Clone(cidrs), slices.Clone(s.AdvertisedPodCIDRs)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			bad("advertises %v, its pod CIDRs are %v", s.AdvertisedPodCIDRs, cidrs)
		}
		if s.Role != "tor-only" && s.KernelRoutes < otherCIDRs {
			bad("%d kernel routes, fewer than the other nodes' %d pod CIDRs", s.KernelRoutes, otherCIDRs)
		}
		for _, c := range s.Conditions {
			// Ready sums up the others; PeersEstablished=False is the
			// sessions above.
			if c.Type == Ready || (c.Type == PeersEstablished && c.Status == "False") {
				continue
			}
			if c.Status != "True" {
				bad("%s is %s (%s): %s", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}
	for _, o := range objects {
		if !known[o.Metadata.Name] {
			out = append(out, Problem{o.Metadata.Name, "a BGPNodeState without a valid Node (left over, or the Node is being replaced)"})
		}
	}
	return out
}

func design(role string, anyReflector bool) string {
	switch {
	case role == "tor-only":
		return "ToR-only"
	case anyReflector:
		return "route reflectors"
	default:
		return "full mesh"
	}
}

// firstOf is the node's first InternalIP of one family, as the agents peer.
func firstOf(info nodeinfo.Info, v4 bool) netip.Addr {
	ips := info.InternalIPs
	if len(ips) == 0 {
		ips = []netip.Addr{info.InternalIP}
	}
	for _, ip := range ips {
		if ip.IsValid() && ip.Is4() == v4 {
			return ip
		}
	}
	return netip.Addr{}
}
