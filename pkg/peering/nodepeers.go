package peering

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
)

// nodePeers are the sessions with other nodes. Without a route reflector
// anywhere the nodes form a full mesh; with one, every reflector peers with
// every other node and every other node peers with the reflectors only.
func nodePeers(in Inputs) ([]bgp.Peer, []error) {
	nodes := others(in)
	selfRR := in.SelfConfig.RouteReflectorClusterID.IsValid()
	reflectors := selfRR || slices.ContainsFunc(nodes, func(n *NodeView) bool {
		return n.Config.RouteReflectorClusterID.IsValid()
	})
	if !reflectors {
		peers := make([]bgp.Peer, 0, len(nodes))
		for _, n := range nodes {
			peers = append(peers, nodeSessions(in, n, n.Config.LocalASN(in.ClusterASN))...)
		}
		return peers, nil
	}

	// A reflector reflects only within its AS (RFC 4456): every node of this
	// design must run the cluster ASN.
	if in.SelfConfig.ASN != 0 && in.SelfConfig.ASN != in.ClusterASN {
		return nil, []error{notIBGP(in.Self.Name, in.SelfConfig.ASN, in.ClusterASN, "not peering with other nodes")}
	}
	var peers []bgp.Peer
	var problems []error
	for _, n := range nodes {
		nodeRR := n.Config.RouteReflectorClusterID.IsValid()
		if !selfRR && !nodeRR {
			continue // two clients learn each other's routes through the reflectors
		}
		if n.Config.ASN != 0 && n.Config.ASN != in.ClusterASN {
			problems = append(problems, notIBGP(n.Info.Name, n.Config.ASN, in.ClusterASN, "not peering with it"))
			continue
		}
		for _, p := range nodeSessions(in, n, in.ClusterASN) {
			// A reflector treats every node it peers with as a client, the
			// other reflectors too: GoBGP adds ORIGINATOR_ID and CLUSTER_LIST
			// only towards clients, so between reflectors as plain peers a
			// reflected path would lose them and name the wrong originator.
			p.RouteReflectorClient = selfRR
			if nodeRR && !selfRR {
				// A client hears every other node through the reflectors:
				// each node's own pod CIDRs may arrive from them; still
				// nothing that no node owns. The plan puts those in the
				// policy once, for every reflector (bgp.Policy.ReflectedPodCIDRs).
				p.AcceptPrefixes, p.AcceptReflected = nil, true
			}
			// Between reflectors, only the other's own pod CIDRs: every
			// reflector has a session with every node, so a path reflected
			// by another is never needed, and GoBGP does not drop one that
			// carries our own cluster ID (RFC 4456 loop detection) but
			// may prefer it and then never pass it on.
			peers = append(peers, p)
		}
	}
	return peers, problems
}

// nodeSessions are the sessions with node n: one per address family both
// nodes have an InternalIP of, between those addresses, each carrying that
// family's pod CIDRs only (a dual-stack pair has an IPv4 and an IPv6
// session). Of each pair of addresses the lower dials and the higher waits:
// one dialler per session means no collisions, and a restarting node is
// never refused by a peer that is keeping its routes (see bgp.Peer.Passive).
func nodeSessions(in Inputs, n *NodeView, asn uint32) []bgp.Peer {
	var out []bgp.Peer
	for _, v4 := range []bool{true, false} {
		local, remote := addrOf(in.Self, v4), addrOf(n.Info, v4)
		if !local.IsValid() || !remote.IsValid() {
			continue
		}
		out = append(out, bgp.Peer{
			Name:           n.Info.Name,
			Address:        remote,
			ASN:            asn,
			Port:           in.BGPPort,
			Passive:        local.Compare(remote) > 0,
			Kind:           bgp.PeerNode,
			AcceptPrefixes: ofFamily(n.Info.PodCIDRs, v4),
			Password:       in.MeshPassword,
			HoldTime:       in.MeshHoldTime,
			KeepaliveTime:  in.MeshKeepaliveTime,
			BFD:            in.MeshBFD,
		})
	}
	return out
}

// addrOf is the node's first InternalIP of one family (IPv4 when v4).
func addrOf(info nodeinfo.Info, v4 bool) netip.Addr {
	ips := info.InternalIPs
	if len(ips) == 0 {
		ips = []netip.Addr{info.InternalIP}
	}
	for _, ip := range ips {
		if ip.IsValid() && ip.Unmap().Is4() == v4 {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// ofFamily returns the prefixes of one family (IPv4 when v4), in order.
func ofFamily(prefixes []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range prefixes {
		if p.Addr().Unmap().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// notIBGP reports a node whose own ASN keeps it out of route reflection.
func notIBGP(node string, asn, clusterASN uint32, consequence string) error {
	return &AnnotationError{Node: node, Annotation: AnnotationASN,
		Err: fmt.Errorf("%d differs from the cluster ASN %d, and route reflection needs iBGP; %s", asn, clusterASN, consequence)}
}
