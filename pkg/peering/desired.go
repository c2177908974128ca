package peering

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
)

// NodeView is one valid node of the cluster with its parsed annotations.
type NodeView struct {
	Info   nodeinfo.Info
	Config NodeConfig
}

// Inputs is everything the peer set of one node derives from.
type Inputs struct {
	Self       nodeinfo.Info
	SelfConfig NodeConfig
	// Nodes is every valid node, self included.
	Nodes      []NodeView
	ClusterASN uint32
	// BGPPort is the port the nodes' speakers listen on.
	BGPPort uint16
	// EnableIBGP peers the nodes with each other; off, nodes peer only with
	// upstream routers (ToR-only designs).
	EnableIBGP  bool
	GlobalPeers []UpstreamPeer
	// DefaultMaxPrefixes bounds what an upstream peer may send when its
	// entry names no maxPrefixes; 0 = no limit.
	DefaultMaxPrefixes uint32
	// Passwords resolves an upstream peer's MD5 password; an error skips
	// that peer with a problem.
	Passwords func(SecretRef) (string, error)
	// MeshPassword is the MD5 password of sessions between nodes; "" = none.
	MeshPassword string
	// MeshHoldTime and MeshKeepaliveTime are the timers of sessions
	// between nodes; 0 = the speaker's defaults (90 s and 30 s).
	MeshHoldTime, MeshKeepaliveTime time.Duration
	// MeshBFD guards the sessions between nodes with BFD; zero = no BFD.
	MeshBFD bfd.Timers
	// BFDDefaults are the BFD timers an upstream peer gets for those it
	// leaves unset ("bfd": true, or some timers only): the --bfd-* flags.
	BFDDefaults bfd.Timers
}

// Desired is the node's peer set, sorted by address. Each peer that cannot
// be configured is left out and reported as a problem; the others stand.
func Desired(in Inputs) (peers []bgp.Peer, problems []error) {
	var nodes []bgp.Peer
	if in.EnableIBGP {
		nodes, problems = nodePeers(in)
	}
	upstream, upProblems := upstreamPeers(in)
	problems = append(problems, upProblems...)

	peers = nodes
	for _, p := range upstream {
		if i := slices.IndexFunc(nodes, func(n bgp.Peer) bool { return n.Address == p.Address }); i >= 0 {
			problems = append(problems, fmt.Errorf("node %q: upstream peer %s: is node %q of the cluster; upstream peer skipped",
				in.Self.Name, p.Address, nodes[i].Name))
			continue
		}
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b bgp.Peer) int { return a.Address.Compare(b.Address) })
	return peers, problems
}

// others is every node but self, by name, so results and problems come in a
// stable order. It points into in.Nodes: a copy of every view (some 200
// bytes each) was a megabyte per pass at 5,000 nodes.
func others(in Inputs) []*NodeView {
	out := make([]*NodeView, 0, len(in.Nodes))
	for i := range in.Nodes {
		n := &in.Nodes[i]
		if n.Info.Name == in.Self.Name || n.Info.InternalIP == in.Self.InternalIP {
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *NodeView) int { return cmp.Compare(a.Info.Name, b.Info.Name) })
	return out
}
