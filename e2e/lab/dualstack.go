package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
)

// The IPv6 half of a dual-stack lab (Options.DualStack): node n also has
// fd00:199:R::1n on eth0 (R its rack, 1 in the flat fabric) and owns
// fd00:10:244:n::/64. IPv6 addresses repeat the digits of the IPv4 ones.
var (
	// FabricPrefix6 is the flat fabric's (and rack 1's) IPv6 subnet, beside
	// FabricPrefix.
	FabricPrefix6 = RackPrefix6(1)
	// RacksPrefix6 covers every rack's IPv6 subnet: nodes route it via their
	// rack's first ToR, as RacksPrefix.
	RacksPrefix6 = netip.MustParsePrefix("fd00:199::/32")
	// ClusterCIDR6 holds every node's IPv6 pod CIDR.
	ClusterCIDR6 = netip.MustParsePrefix("fd00:10:244::/56")
)

// RackPrefix6 is rack r's IPv6 subnet: fd00:199:r::/64.
func RackPrefix6(r int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:199:%d::/64", r))
}

// NodeIP6 is node n's IPv6 InternalIP in a flat dual-stack lab: node1 is
// fd00:199:1::11, the same digits as its IPv4 address.
func NodeIP6(n int) netip.Addr { return RackNodeIP6(1, n) }

// RackNodeIP6 is node n's IPv6 address in rack r: fd00:199:r::1n.
func RackNodeIP6(r, n int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:199:%d::%d", r, 10+n))
}

// ToRAddr6 is ToR t's IPv6 address in rack r: ToR 1 is fd00:199:r::254.
func ToRAddr6(t, r int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:199:%d::%d", r, 255-t))
}

// NodePodCIDR6 is node n's IPv6 pod CIDR in a dual-stack lab:
// fd00:10:244:n::/64 (n in hex, so every node up to MaxNodes fits in
// ClusterCIDR6).
func NodePodCIDR6(n int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%x::/64", n))
}

// ensureNodeIP6 adds node's IPv6 address to its eth0 and, when there are
// other racks, routes them via the rack's first ToR. nodad: duplicate
// address detection would keep the address tentative (unusable for BGP) for
// a second or more, and the lab assigns every address itself.
func ensureNodeIP6(ctx context.Context, node *Node, racks int) error {
	if !node.IP6.IsValid() {
		return nil
	}
	addr := netip.PrefixFrom(node.IP6, FabricPrefix6.Bits()).String()
	if _, err := ip(ctx, node.Netns, "-6", "addr", "replace", addr, "dev", nodeLink, "nodad"); err != nil {
		return fmt.Errorf("node %s: adding %s to %s: %w", node.Name, addr, nodeLink, err)
	}
	if racks < 2 {
		return nil
	}
	via := ToRAddr6(1, node.Rack).String()
	if _, err := ip(ctx, node.Netns, "-6", "route", "replace", RacksPrefix6.String(), "via", via, "dev", nodeLink); err != nil {
		return fmt.Errorf("node %s: routing %s via %s: %w", node.Name, RacksPrefix6, via, err)
	}
	return nil
}

// PodCIDRs are node's pod CIDRs in spec.podCIDRs order: IPv4, then IPv6 on a
// dual-stack node.
func (node *Node) PodCIDRs() []netip.Prefix {
	out := []netip.Prefix{node.PodCIDR}
	if node.PodCIDR6.IsValid() {
		out = append(out, node.PodCIDR6)
	}
	return out
}

// podIP6FromResult reads the pod's first IPv6 address from a CNI result;
// invalid when it has none (a single-stack node).
func podIP6FromResult(out []byte) netip.Addr {
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if json.Unmarshal(out, &res) != nil {
		return netip.Addr{}
	}
	for _, a := range res.IPs {
		if p, err := netip.ParsePrefix(a.Address); err == nil && p.Addr().Is6() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// nodeAddresses are node's InternalIPs, IPv4 first as kubelet lists them.
func nodeAddresses(node *Node) []netip.Addr {
	if node.IP6.IsValid() {
		return []netip.Addr{node.IP, node.IP6}
	}
	return []netip.Addr{node.IP}
}
