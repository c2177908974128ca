package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/coreos/go-iptables/iptables"
)

// Rules is the firewall state routed pod traffic needs on this node.
type Rules struct {
	// PodCIDRs are this node's own pod CIDRs (IPv4 and/or IPv6): the sources we
	// masquerade.
	PodCIDRs []netip.Prefix
	// ClusterCIDRs are the whole cluster's pod CIDR(s) (--cluster-cidr): forwarding to
	// and from them is accepted, and masquerading never applies to them.
	ClusterCIDRs []netip.Prefix
	// Masquerade turns on source NAT for pod traffic leaving the cluster's pod CIDRs.
	Masquerade bool
}

// validate refuses the whole Rules on one bad prefix: rendering from a partial set
// would delete the rules of the CIDR the caller meant.
func (r Rules) validate() error {
	for i, p := range r.PodCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("firewall rules: PodCIDRs[%d]: invalid prefix", i)
		}
	}
	for i, p := range r.ClusterCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("firewall rules: ClusterCIDRs[%d]: invalid prefix", i)
		}
	}
	return nil
}

// family is one IP family: its rules live in iptables or in ip6tables.
type family struct {
	proto iptables.Protocol
	name  string
}

var families = []family{
	{proto: iptables.ProtocolIPv4, name: "IPv4"},
	{proto: iptables.ProtocolIPv6, name: "IPv6"},
}

func (f family) holds(p netip.Prefix) bool {
	return p.Addr().Is4() == (f.proto == iptables.ProtocolIPv4)
}

// familyRules is Rules narrowed to one family, masked, deduplicated and sorted, so
// that the rendered chains depend on the set of CIDRs and never on their order (a
// reordering would otherwise move rules around).
type familyRules struct {
	pods, cluster []netip.Prefix
	masquerade    bool
}

func (r Rules) forFamily(f family) familyRules {
	return familyRules{
		pods:       prefixSet(f, r.PodCIDRs),
		cluster:    prefixSet(f, r.ClusterCIDRs),
		masquerade: r.Masquerade,
	}
}

func (fr familyRules) empty() bool { return len(fr.pods) == 0 && len(fr.cluster) == 0 }

func prefixSet(f family, in []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range in {
		if f.holds(p) {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

// podNetworks are the destinations that are pods: the cluster CIDRs, plus any own
// pod CIDR that no cluster CIDR contains (a node must always route its own pods).
// Without a cluster CIDR this is just the node's own pod CIDRs, so traffic to other
// nodes' pods is masqueraded: it still flows, but hides the pod's address.
func (fr familyRules) podNetworks() []netip.Prefix {
	nets := slices.Clone(fr.cluster)
	for _, p := range fr.pods {
		if !slices.ContainsFunc(fr.cluster, func(c netip.Prefix) bool { return contains(c, p) }) {
			nets = append(nets, p)
		}
	}
	slices.SortFunc(nets, comparePrefixes)
	return nets
}

// comparePrefixes orders by address, then by length (netip.Prefix.Compare needs Go
// 1.26).
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// chainDef is one chain we own, fed by exactly one jump from a built-in chain.
type chainDef struct {
	table   string // iptables table
	name    string // our chain
	hook    string // the built-in chain whose jump feeds ours
	comment string // marks the jump as ours
}

var (
	// forwardChain accepts pod traffic in FORWARD. Its jump is inserted at position 1:
	// Docker sets FORWARD's policy to DROP and adds rules of its own, and pods must
	// still be routed on such hosts.
	forwardChain = chainDef{table: "filter", name: "NODEBGP-FORWARD", hook: "FORWARD", comment: "nodebgp: pod forwarding"}
	// masqueradeChain source-NATs pod traffic leaving the cluster's pod networks.
	masqueradeChain = chainDef{table: "nat", name: "NODEBGP-POSTROUTING", hook: "POSTROUTING", comment: "nodebgp: pod masquerade"}
	// ourChains is everything Sync may create and Cleanup removes.
	ourChains = []chainDef{forwardChain, masqueradeChain}
)

// jump is the rule in the built-in chain that sends packets to ours.
func (c chainDef) jump() []string {
	return []string{"-m", "comment", "--comment", c.comment, "-j", c.name}
}

func (c chainDef) String() string { return c.table + "/" + c.name }

// chainRules is the desired content of one of our chains, in order.
type chainRules struct {
	def   chainDef
	rules [][]string
}

// Comments on every rule we write, so `iptables-save` tells an operator whose rule
// it is and why it is there.
const (
	commentFromPods   = "nodebgp: forward from pods"
	commentToPods     = "nodebgp: forward to pods"
	commentKeepSource = "nodebgp: pod to pod, keep source"
	commentMasquerade = "nodebgp: masquerade pod traffic leaving the cluster"
)

// render returns the chains that should exist for one family and their rules; a
// chain of ours that it leaves out is to be removed. Rules are written the way
// `iptables -S` prints them back (matches in this order), so the listed chain can be
// compared with them token by token.
//
// NODEBGP-FORWARD, for each pod network:
//
//	-s NET -m comment --comment "nodebgp: forward from pods" -j ACCEPT
//	-d NET -m comment --comment "nodebgp: forward to pods" -j ACCEPT
//
// NODEBGP-POSTROUTING, only with masquerade and own pod CIDRs, for each own pod CIDR.
// With one pod network:
//
//	-s POD ! -d NET -m comment --comment "..." -j MASQUERADE [--random-fully]
//
// With several, iptables cannot negate a list, so a RETURN per network comes first:
//
//	-s POD -d NET1 -m comment --comment "nodebgp: pod to pod, keep source" -j RETURN
//	-s POD -d NET2 -m comment --comment "nodebgp: pod to pod, keep source" -j RETURN
//	-s POD -m comment --comment "..." -j MASQUERADE [--random-fully]
func render(fr familyRules, randomFully bool) []chainRules {
	nets := fr.podNetworks()
	forward := chainRules{def: forwardChain}
	for _, n := range nets {
		forward.rules = append(forward.rules,
			[]string{"-s", n.String(), "-m", "comment", "--comment", commentFromPods, "-j", "ACCEPT"},
			[]string{"-d", n.String(), "-m", "comment", "--comment", commentToPods, "-j", "ACCEPT"},
		)
	}
	out := []chainRules{forward}
	if !fr.masquerade || len(fr.pods) == 0 {
		return out
	}

	masquerade := []string{"-m", "comment", "--comment", commentMasquerade, "-j", "MASQUERADE"}
	if randomFully {
		// Fully random source ports avoid the SNAT port collisions that drop
		// connections under load; only iptables >= 1.6.2 knows the flag.
		masquerade = append(masquerade, "--random-fully")
	}
	nat := chainRules{def: masqueradeChain}
	for _, p := range fr.pods {
		if len(nets) == 1 {
			nat.rules = append(nat.rules, slices.Concat([]string{"-s", p.String(), "!", "-d", nets[0].String()}, masquerade))
			continue
		}
		for _, n := range nets {
			nat.rules = append(nat.rules, []string{"-s", p.String(), "-d", n.String(), "-m", "comment", "--comment", commentKeepSource, "-j", "RETURN"})
		}
		nat.rules = append(nat.rules, slices.Concat([]string{"-s", p.String()}, masquerade))
	}
	return append(out, nat)
}
