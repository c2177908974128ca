package plan

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/slimnode"
)

// planBGP derives the speaker's identity, peers, policy and advertised paths
// from every valid node, this node's annotations, the flags and the Secrets.
func (p *Plan) planBGP(in Inputs, infos []nodeinfo.Info) {
	s := in.Settings
	views := make([]peering.NodeView, 0, len(infos))
	byName := nodesByName(in.Nodes)
	var self peering.NodeView
	for _, info := range infos {
		cfg, errs := peering.ParseNodeConfig(byName[info.Name])
		v := peering.NodeView{Info: info, Config: cfg}
		views = append(views, v)
		if info.Name == s.NodeName {
			self = v
			p.Problems.Own = append(p.Problems.Own, errs...)
		}
	}
	if self.Info.Name != "" {
		p.Identity = wantIdentity(self.Config, p.Problems.Own, s.ClusterASN, in.Identity)
	} else {
		// Our own Node is invalid or gone from the cache (deleted,
		// re-registering): keep the facts we started with and the speaker
		// we have, so that the peer set does not collapse.
		p.Identity = in.Identity
		if p.Identity.ASN == 0 {
			p.Identity.ASN = s.ClusterASN
		}
		self.Info = nodeinfo.Info{Name: s.NodeName, InternalIP: in.Self.IP, InternalIPs: in.Self.IPs(), PodCIDRs: in.Self.PodCIDRs}
	}
	p.Role = role(s.EnableIBGP, p.Identity, views)
	// The peers of the speaker we have: a bad annotation keeps its AS.
	self.Config.ASN = p.Identity.ASN

	meshPassword, meshReady, mesh, meshErr := resolveMeshPassword(s.MeshPasswordSecret, in.Password, in.Mesh)
	p.Mesh = mesh
	if meshErr != nil {
		p.Problems.Own = append(p.Problems.Own, meshErr)
	}
	peers, problems := peering.Desired(peering.Inputs{
		Self:               self.Info,
		SelfConfig:         self.Config,
		Nodes:              views,
		ClusterASN:         s.ClusterASN,
		BGPPort:            s.BGPPort,
		EnableIBGP:         s.EnableIBGP,
		GlobalPeers:        s.GlobalPeers,
		DefaultMaxPrefixes: s.UpstreamMaxPrefixes,
		Passwords:          in.Password,
		MeshPassword:       meshPassword,

		MeshHoldTime:      s.MeshHoldTime,
		MeshKeepaliveTime: s.MeshKeepaliveTime,
		MeshBFD:           s.MeshBFD,
		BFDDefaults:       s.BFDDefaults,
	})
	// A session whose BFD failed stays down until BFD is Up again (RFC
	// 5882 §4.3.1); a peer without BFD (any more) is never held.
	for i := range peers {
		if peers[i].BFD != (bfd.Timers{}) && in.BFDFailed[peers[i].Address] {
			peers[i].AdminDown = true
		}
	}
	p.Redial = redials(peers, in.SessionsEnded)
	if !meshReady {
		// Never set up unsigned sessions that were meant to be signed.
		peers = slices.DeleteFunc(peers, func(p bgp.Peer) bool { return p.Kind == bgp.PeerNode })
	}
	p.Peers = peers
	p.Problems.Own = append(p.Problems.Own, problems...)

	p.Policy = bgp.Policy{
		ClusterCIDRs:         clusterCIDRs(s.ClusterCIDRs, infos),
		AcceptUpstreamRoutes: s.AcceptUpstreamRoutes,
		Communities:          self.Config.Communities,
		LargeCommunities:     self.Config.LargeCommunities,
		PrependCount:         self.Config.PrependCount,
	}
	if !s.EnableIBGP {
		// ToR-only: the other racks' pod CIDRs can only come from upstream.
		p.Policy.UpstreamPodCIDRs = podCIDRsOfOthers(infos, s.NodeName)
	}
	if slices.ContainsFunc(peers, func(p bgp.Peer) bool { return p.AcceptReflected }) {
		// A reflector client: every other node's pod CIDR may come from
		// each of its reflectors.
		p.Policy.ReflectedPodCIDRs = podCIDRsOfOthers(infos, s.NodeName)
	}
	p.Advertised = advertisements(in.Self.PodCIDRs, in.Self.IPs())
	p.planServices(in)
}

// redials picks the peers whose ended session the speaker may re-create
// rather than leave to GoBGP's 5 s idle hold: node peers guarded by BFD
// (their session may come back only while BFD is Up, and the agent only
// reports an end while it is) and not held down. A ToR ends a session for
// reasons of its own (FRR refuses a dial while it still tears the old one
// down, docs/peering.md), so its neighbor keeps GoBGP's pace.
func redials(peers []bgp.Peer, ended map[netip.Addr]bool) map[netip.Addr]bool {
	var out map[netip.Addr]bool
	for _, p := range peers {
		dropStale, ok := ended[p.Address]
		if !ok || p.Kind != bgp.PeerNode || p.BFD == (bfd.Timers{}) || p.AdminDown {
			continue
		}
		if out == nil {
			out = map[netip.Addr]bool{}
		}
		out[p.Address] = dropStale
	}
	return out
}

func nodesByName(nodes []*slimnode.Node) map[string]*slimnode.Node {
	byName := make(map[string]*slimnode.Node, len(nodes))
	for _, n := range nodes {
		if n != nil {
			byName[n.Name] = n
		}
	}
	return byName
}

// resolveMeshPassword is the TCP-MD5 password of the node-to-node sessions:
// the Secret's value, or, while it cannot be read (deleted, API down), the
// last value read, so running sessions keep their signature. ready is false
// while no value was ever read: node sessions then wait for one instead of
// coming up unsigned.
func resolveMeshPassword(ref peering.SecretRef, lookup func(peering.SecretRef) (string, error), last MeshPassword) (pw string, ready bool, next MeshPassword, err error) {
	if ref.IsZero() {
		return "", true, MeshPassword{}, nil
	}
	if lookup != nil {
		pw, err = lookup(ref)
	} else {
		err = fmt.Errorf("Secret %s: no Secret reader", ref)
	}
	if err == nil {
		return pw, true, MeshPassword{Value: pw, Read: true}, nil
	}
	if last.Read {
		return last.Value, true, last, fmt.Errorf("--mesh-password-secret: %w; node-to-node sessions keep the password read before", err)
	}
	return "", false, last, fmt.Errorf("--mesh-password-secret: %w; node-to-node sessions wait for it", err)
}

// clusterCIDRs are the prefixes no upstream router may send us: --cluster-cidr,
// else every node's pod CIDRs, so that hijack protection holds even when
// masquerade (and with it --cluster-cidr) is off.
func clusterCIDRs(flag []netip.Prefix, infos []nodeinfo.Info) []netip.Prefix {
	if len(flag) > 0 {
		return flag
	}
	return podCIDRsOfOthers(infos, "") // no node is named "": every node's
}

// podCIDRsOfOthers are the pod CIDRs the API gives every node but this one.
func podCIDRsOfOthers(infos []nodeinfo.Info, self string) []netip.Prefix {
	n := 0
	for _, info := range infos {
		n += len(info.PodCIDRs)
	}
	if n == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, n)
	for _, info := range infos {
		if info.Name != self {
			out = append(out, info.PodCIDRs...)
		}
	}
	return out
}

// advertisements pair each pod CIDR with the node IP of its family as next
// hop. A CIDR of a family the node has no address of keeps the first node
// IP, which the speaker refuses with an error naming the CIDR.
func advertisements(cidrs []netip.Prefix, nodeIPs []netip.Addr) []bgp.Path {
	out := make([]bgp.Path, 0, len(cidrs))
	for _, c := range cidrs {
		nh := nodeIPs[0]
		for _, ip := range nodeIPs {
			if ip.Is4() == c.Addr().Is4() {
				nh = ip
				break
			}
		}
		out = append(out, bgp.Path{Prefix: c, NextHop: nh})
	}
	return out
}

// ownNodeProblem says when this node's Node object vanished or shows other
// pod CIDRs than at start. spec.podCIDRs is immutable, so this only happens
// when the Node was deleted (and maybe re-registered): the agent keeps
// routing with what it started with, and a restart adopts the new allocation.
func ownNodeProblem(in Inputs, infos []nodeinfo.Info) string {
	name := in.Settings.NodeName
	for _, info := range infos {
		if info.Name != name {
			continue
		}
		if !slices.Equal(info.PodCIDRs, in.Self.PodCIDRs) {
			return fmt.Sprintf("node %q: spec.podCIDRs changed from %v to %v; restart the agent to adopt them", name, in.Self.PodCIDRs, info.PodCIDRs)
		}
		return ""
	}
	for _, n := range in.Nodes {
		if n != nil && n.Name == name {
			return fmt.Sprintf("node %q: own Node object skipped for bad data (see the node problems); keeping the pod CIDRs it had at start", name)
		}
	}
	return fmt.Sprintf("node %q: own Node object not found; keeping the pod CIDRs it had at start", name)
}
