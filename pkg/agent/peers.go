package agent

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
)

// peerPlan is what the node loop derives for BGP from the cache in one pass.
type peerPlan struct {
	peers  []bgp.Peer
	policy bgp.Policy
	// identity is the speaker this plan is for; when it differs from the
	// running one, the plan waits for the next speaker (see Run).
	identity speakerIdentity
	// ownProblems concern this node (its annotations, its peers): they are
	// logged and recorded as Events on this node. Other nodes' annotation
	// problems are their own agents' to report.
	ownProblems []error
}

// planPeers derives this node's peers and policy from every valid node, its
// annotations, the flags and the password Secrets.
func (a *agent) planPeers(all []*corev1.Node, infos []nodeinfo.Info) peerPlan {
	byName := make(map[string]*corev1.Node, len(all))
	for _, n := range all {
		if n != nil {
			byName[n.Name] = n
		}
	}
	var plan peerPlan
	views := make([]peering.NodeView, 0, len(infos))
	var self peering.NodeView
	for _, info := range infos {
		cfg, errs := peering.ParseNodeConfig(byName[info.Name])
		v := peering.NodeView{Info: info, Config: cfg}
		views = append(views, v)
		if info.Name == a.cfg.NodeName {
			self = v
			plan.ownProblems = append(plan.ownProblems, errs...)
		}
	}
	plan.identity = a.identity
	if self.Info.Name != "" {
		plan.identity = wantIdentity(self.Config, plan.ownProblems, a.cfg.ClusterASN, a.identity)
	} else {
		// Our own Node is invalid or gone from the cache (deleted,
		// re-registering): keep the facts we started with and the speaker we
		// have, so the peer set does not collapse.
		self.Info = nodeinfo.Info{Name: a.cfg.NodeName, InternalIP: a.nodeIP, InternalIPs: a.nodeIPs(), PodCIDRs: a.initialCIDRs}
	}
	// The peers of the speaker we have: a bad annotation keeps its AS.
	self.Config.ASN = plan.identity.ASN
	meshPassword, meshReady, err := a.meshPassword()
	if err != nil {
		plan.ownProblems = append(plan.ownProblems, err)
	}
	peers, problems := peering.Desired(peering.Inputs{
		Self:         self.Info,
		SelfConfig:   self.Config,
		Nodes:        views,
		ClusterASN:   a.cfg.ClusterASN,
		BGPPort:      uint16(a.cfg.BGPPort),
		EnableIBGP:   a.cfg.EnableIBGP,
		GlobalPeers:  a.cfg.GlobalPeers,
		Passwords:    a.secrets.password,
		MeshPassword: meshPassword,
	})
	if !meshReady {
		peers = withoutNodePeers(peers)
	}
	plan.peers = peers
	plan.ownProblems = append(plan.ownProblems, problems...)
	plan.policy = bgp.Policy{
		ClusterCIDRs:         a.clusterCIDRs(infos),
		AcceptUpstreamRoutes: a.cfg.AcceptUpstreamRoutes,
		Communities:          self.Config.Communities,
		LargeCommunities:     self.Config.LargeCommunities,
		PrependCount:         self.Config.PrependCount,
	}
	if !a.cfg.EnableIBGP {
		// ToR-only: the other racks' pod CIDRs can only come from upstream.
		plan.policy.UpstreamPodCIDRs = podCIDRsOfOthers(infos, a.cfg.NodeName)
	}
	return plan
}

// meshPassword is the TCP-MD5 password of the node-to-node sessions: the
// Secret's value, or, while it cannot be read (deleted, API down), the last
// value read, so running sessions keep their signature. ready is false while
// no value was ever read: node sessions then wait for one instead of coming
// up unsigned.
func (a *agent) meshPassword() (pw string, ready bool, err error) {
	if a.cfg.MeshPasswordSecret.IsZero() {
		return "", true, nil
	}
	pw, err = a.secrets.password(a.cfg.MeshPasswordSecret)
	if err == nil {
		a.lastMeshPassword, a.meshPasswordRead = pw, true
		return pw, true, nil
	}
	if a.meshPasswordRead {
		return a.lastMeshPassword, true, fmt.Errorf("--mesh-password-secret: %w; node-to-node sessions keep the password read before", err)
	}
	return "", false, fmt.Errorf("--mesh-password-secret: %w; node-to-node sessions wait for it", err)
}

// withoutNodePeers drops the other nodes from peers, keeping upstream routers.
func withoutNodePeers(peers []bgp.Peer) []bgp.Peer {
	out := peers[:0:0]
	for _, p := range peers {
		if p.Kind != bgp.PeerNode {
			out = append(out, p)
		}
	}
	return out
}

// podCIDRsOfOthers are the pod CIDRs the API gives every node but this one.
func podCIDRsOfOthers(infos []nodeinfo.Info, self string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range infos {
		if n.Name != self {
			out = append(out, n.PodCIDRs...)
		}
	}
	return out
}

// nodeIPs are the node's addresses the speaker uses, IPv4 first.
func (a *agent) nodeIPs() []netip.Addr {
	if a.nodeIP6.IsValid() {
		return []netip.Addr{a.nodeIP, a.nodeIP6}
	}
	return []netip.Addr{a.nodeIP}
}

// clusterCIDRs are the prefixes no upstream router may send us: --cluster-cidr,
// else every node's pod CIDRs, so that hijack protection holds even when
// masquerade (and with it --cluster-cidr) is off.
func (a *agent) clusterCIDRs(infos []nodeinfo.Info) []netip.Prefix {
	if len(a.cfg.ClusterCIDRs) > 0 {
		return a.cfg.ClusterCIDRs
	}
	var out []netip.Prefix
	for _, n := range infos {
		out = append(out, n.PodCIDRs...)
	}
	return out
}
