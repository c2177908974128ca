// Package plan decides what one pass of the node loop should make true: from
// the Node list, this node's facts, the parsed flags and the Secret values at
// hand, it derives the speaker's identity, its peers, policy and advertised
// paths, the CNI config, the pod bridge, forwarding, the firewall rules, and
// every problem found on the way, each naming its node and field.
//
// It is pure: no I/O, no client-go, no GoBGP. pkg/agent reads the inputs,
// calls Build, applies the Plan and reports; a test can read a Plan.
package plan

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/hostnet"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/services"
	"github.com/nodebgp/router/pkg/slimnode"
)

// Settings are the flags a plan depends on, already parsed and validated.
type Settings struct {
	NodeName   string
	ClusterASN uint32
	BGPPort    uint16
	// EnableIBGP peers the nodes with each other; off, nodes peer only with
	// upstream routers (ToR-only designs).
	EnableIBGP bool
	// GlobalPeers are the upstream routers every node peers with.
	GlobalPeers []peering.UpstreamPeer
	// UpstreamMaxPrefixes is the prefix limit of upstream peers whose
	// nodebgp.io/peers entry names none; 0 = no limit.
	UpstreamMaxPrefixes uint32
	// AcceptUpstreamRoutes takes routes outside the cluster's pod CIDRs
	// from upstream routers.
	AcceptUpstreamRoutes bool
	// MeshPasswordSecret holds the node-to-node MD5 password; zero = none.
	MeshPasswordSecret peering.SecretRef
	// MeshHoldTime and MeshKeepaliveTime time the node-to-node sessions;
	// 0 = 90 s and 30 s.
	MeshHoldTime, MeshKeepaliveTime time.Duration
	// MeshBFD guards the node-to-node sessions with BFD (--bfd); zero = off.
	MeshBFD bfd.Timers
	// BFDDefaults are the --bfd-* timers, for upstream peers with BFD on
	// that leave some unset.
	BFDDefaults bfd.Timers

	CNIBridge   string
	IPAMDataDir string
	// MTU is --mtu; 0 = the MTU of the link that carries the node IP.
	MTU int

	ClusterCIDRs []netip.Prefix
	Masquerade   bool
}

// Self is what the agent learned about its own node at start. It holds for
// the life of the process: spec.podCIDRs is immutable, so a changed
// allocation means the Node was re-created, and a restart adopts it.
type Self struct {
	// IP is the node's IPv4 InternalIP (its IPv6 one on an IPv6-only node).
	IP netip.Addr
	// IP6 is the IPv6 InternalIP of a dual-stack node; invalid otherwise.
	IP6      netip.Addr
	PodCIDRs []netip.Prefix
}

// IPs are the node's addresses the speaker uses, IPv4 first.
func (s Self) IPs() []netip.Addr {
	if s.IP6.IsValid() {
		return []netip.Addr{s.IP, s.IP6}
	}
	return []netip.Addr{s.IP}
}

// SelfFrom is the facts of a node as the agent starts with them.
func SelfFrom(info nodeinfo.Info, podCIDRs []netip.Prefix) Self {
	s := Self{IP: info.InternalIP, PodCIDRs: podCIDRs}
	if info.InternalIP.Is4() {
		// A dual-stack node: its first IPv6 address carries the IPv6
		// sessions and is the next hop of its IPv6 pod CIDRs. An IPv6-only
		// node's one address is already IP.
		for _, ip := range info.InternalIPs {
			if ip.Is6() && !ip.Is4In6() {
				s.IP6 = ip
				break
			}
		}
	}
	return s
}

// MeshPassword is what the node loop knows of the mesh MD5 password: the
// value last read, kept through the Secret's loss so that running sessions
// keep their signature.
type MeshPassword struct {
	Value string
	Read  bool // a value was read at least once
}

// Inputs is everything one pass derives from.
type Inputs struct {
	Settings Settings
	Self     Self
	// Nodes is the node cache's list; invalid entries become problems.
	Nodes []*slimnode.Node
	// Identity is the running speaker's; zero before the first one starts.
	Identity Identity
	// Password returns the value of a Secret key the agent holds (or
	// fetches through its cache); errors name the Secret and key.
	Password func(peering.SecretRef) (string, error)
	// Mesh is the mesh password as the previous pass left it.
	Mesh MeshPassword
	// LinkMTU is the MTU of the node IP's link, read this pass when
	// Settings.MTU is 0; LinkMTUErr says why it could not be read.
	LinkMTU    int
	LinkMTUErr error
	// BFDFailed are the peers whose BFD session went from Up to Down and
	// has not been Up since: their BGP sessions are held down.
	BFDFailed map[netip.Addr]bool
	// SessionsEnded are the peers whose BGP session ended (not held down
	// by us) while, or shortly before, their BFD session was Up; the value
	// says their BFD failed shortly before, so the routes graceful restart
	// keeps from them must go anyway. See Plan.Redial.
	SessionsEnded map[netip.Addr]bool
	// Services is what the Services ask of this node (pkg/services).
	Services services.Snapshot
}

// Plan is the desired state of one pass.
type Plan struct {
	// Identity is what the speaker must run with. When it differs from
	// Inputs.Identity the rest of the plan is for the next speaker and
	// nothing of it may be applied to the running one.
	Identity Identity
	// Role is the node's place in the BGP design (mesh, reflector, client,
	// ToR-only), for the status report.
	Role Role

	// What the speaker should have besides its identity.
	Peers      []bgp.Peer
	Policy     bgp.Policy
	Advertised []bgp.Path
	// Services are the Service routes, for upstream peers only.
	Services []bgp.Path
	// Redial are the node peers of SessionsEnded that are not held down,
	// for bgp.Desired.Redial.
	Redial map[netip.Addr]bool

	Conflist   cniinstall.ConflistParams
	Bridge     hostnet.BridgeParams
	Forwarding Forwarding
	Firewall   firewall.Rules

	// Mesh is the mesh password to carry into the next pass.
	Mesh MeshPassword

	Problems Problems
}

// Forwarding says which families' forwarding sysctls must be on.
type Forwarding struct{ IPv4, IPv6 bool }

// Problems are what the pass found wrong in its inputs. None stops the pass.
type Problems struct {
	// Nodes are other nodes skipped for bad data: logged once per change;
	// their own agents report them on their Nodes.
	Nodes []error
	// Own concern this node (its annotations, its peers, the mesh Secret):
	// logged and recorded as Events on this node.
	Own []error
	// OwnNode says the node's own object vanished or shows other pod CIDRs
	// than at start; the agent keeps routing with what it started with.
	OwnNode string
	// MTU says why the link's MTU could not be read (1500 is used).
	MTU error
	// Services are Services skipped in whole or part for bad data (a
	// malformed address, an unreadable annotation), each naming its Service
	// and field: logged and recorded as Events on the Service.
	Services []error
	// Settings are flags that contradict the cluster (a --cluster-cidr
	// that does not hold the nodes' pod CIDRs): the node is not ready until
	// they are fixed, and each is recorded as an Event on it.
	Settings []error
}

// Build derives the plan of one pass. It never fails: bad input becomes a
// problem and the rest of the plan stands.
func Build(in Inputs) Plan {
	var p Plan
	infos, problems := nodeinfo.Cluster(in.Nodes)
	p.Problems.Nodes = problems
	p.Problems.OwnNode = ownNodeProblem(in, infos)

	p.planBGP(in, infos)
	if err := checkClusterCIDRs(in.Settings.ClusterCIDRs, infos); err != nil {
		p.Problems.Settings = append(p.Problems.Settings, err)
	}

	mtu := in.Settings.MTU
	if mtu == 0 {
		mtu = in.LinkMTU
		if in.LinkMTUErr != nil || mtu == 0 {
			// The common Ethernet MTU: right on most underlays, and a pod
			// MTU too big for the underlay only costs fragmentation.
			p.Problems.MTU = in.LinkMTUErr
			mtu = 1500
		}
	}
	cidrs := in.Self.PodCIDRs
	p.Conflist = cniinstall.ConflistParams{
		BridgeName:  in.Settings.CNIBridge,
		MTU:         mtu,
		PodCIDRs:    cidrs,
		IPAMDataDir: in.Settings.IPAMDataDir,
	}
	p.Bridge = hostnet.BridgeParams{Name: in.Settings.CNIBridge, Gateways: gateways(cidrs), MTU: mtu}
	for _, c := range cidrs {
		if c.Addr().Is4() {
			p.Forwarding.IPv4 = true
		} else {
			p.Forwarding.IPv6 = true
		}
	}
	p.Firewall = firewall.Rules{
		PodCIDRs:     cidrs,
		ClusterCIDRs: in.Settings.ClusterCIDRs,
		Masquerade:   in.Settings.Masquerade,
	}
	return p
}

// gateways are the bridge addresses: the first host of each pod CIDR, which
// is the gateway host-local hands to pods by default.
func gateways(cidrs []netip.Prefix) []netip.Prefix {
	gws := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		gws = append(gws, netip.PrefixFrom(c.Masked().Addr().Next(), c.Bits()))
	}
	return gws
}

// checkClusterCIDRs says when --cluster-cidr does not hold every node's pod
// CIDRs: pod traffic to those nodes would be masqueraded as if it left the
// cluster, and their routes taken from upstream routers as if they were not
// ours. It names at most three nodes, so that a big cluster gets one line.
func checkClusterCIDRs(cluster []netip.Prefix, infos []nodeinfo.Info) error {
	if len(cluster) == 0 {
		return nil
	}
	var outside []string
	count := 0
	for _, n := range infos {
		for _, c := range n.PodCIDRs {
			if !containedIn(c, cluster) {
				count++
				if len(outside) < 3 {
					outside = append(outside, fmt.Sprintf("node %q: %s", n.Name, c))
				}
			}
		}
	}
	if count == 0 {
		return nil
	}
	more := ""
	if count > len(outside) {
		more = fmt.Sprintf(" and %d more", count-len(outside))
	}
	return fmt.Errorf("--cluster-cidr %s does not contain the pod CIDRs of the cluster (%s%s): their traffic would be masqueraded and not protected from hijacks; set it to kube-controller-manager's --cluster-cidr (the nodebgp-config ConfigMap's cluster-cidr)",
		joinPrefixes(cluster), strings.Join(outside, ", "), more)
}

func containedIn(p netip.Prefix, cluster []netip.Prefix) bool {
	for _, c := range cluster {
		if c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func joinPrefixes(ps []netip.Prefix) string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}
