package nodeinfo

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/slimnode"
)

// Info is what the agent knows about one node, parsed once at the edge so
// nothing downstream re-parses strings.
type Info struct {
	Name string
	// InternalIP is the node's first IPv4 InternalIP, or its first IPv6 one
	// when it has no IPv4: the address BGP peers with and routes point at.
	InternalIP netip.Addr
	// InternalIPs holds every InternalIP, IPv4 first, each family in API order.
	InternalIPs []netip.Addr
	// PodCIDRs holds spec.podCIDRs (or spec.podCIDR when the list is empty),
	// masked, in API order. Empty until the controller manager allocates.
	PodCIDRs []netip.Prefix
}

// FromNode parses one Node. Errors name the node and the offending field.
// A node without pod CIDRs is valid: allocation may simply not have happened.
func FromNode(n *slimnode.Node) (Info, error) {
	if n == nil {
		return Info{}, errors.New("nil node")
	}
	if n.Name == "" {
		return Info{}, errors.New(`node "": metadata.name: empty`)
	}
	ips, err := internalIPs(n)
	if err != nil {
		return Info{}, err
	}
	cidrs, err := PodCIDRs(n)
	if err != nil {
		return Info{}, err
	}
	return Info{Name: n.Name, InternalIP: ips[0], InternalIPs: ips, PodCIDRs: cidrs}, nil
}

// internalIPs returns the node's distinct InternalIPs, IPv4 first, or an
// error when there is none or one does not parse.
func internalIPs(n *slimnode.Node) ([]netip.Addr, error) {
	var v4, v6 []netip.Addr
	seen := map[netip.Addr]bool{}
	for i, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
			return nil, fmt.Errorf("node %q: status.addresses[%d]: %q is not a usable IP address", n.Name, i, a.Address)
		}
		// An IPv4-mapped IPv6 address is the IPv4 address for routing purposes.
		ip = ip.Unmap()
		if seen[ip] {
			continue
		}
		seen[ip] = true
		if ip.Is4() {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	all := append(v4, v6...)
	if len(all) == 0 {
		return nil, fmt.Errorf("node %q: status.addresses: no InternalIP", n.Name)
	}
	return all, nil
}

// PodCIDRs returns the node's pod CIDRs, masked, in API order: spec.podCIDRs,
// or spec.podCIDR when the list is empty (clusters and fakes that set only
// the legacy field). It returns no error for a node without pod CIDRs.
func PodCIDRs(n *slimnode.Node) ([]netip.Prefix, error) {
	if n == nil {
		return nil, errors.New("nil node")
	}
	if len(n.Spec.PodCIDRs) == 0 {
		if n.Spec.PodCIDR == "" {
			return nil, nil
		}
		p, err := parseCIDR(n.Spec.PodCIDR)
		if err != nil {
			return nil, fmt.Errorf("node %q: spec.podCIDR: %w", n.Name, err)
		}
		return []netip.Prefix{p}, nil
	}
	out := make([]netip.Prefix, 0, len(n.Spec.PodCIDRs))
	for i, s := range n.Spec.PodCIDRs {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("node %q: spec.podCIDRs[%d]: %w", n.Name, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseCIDR accepts a CIDR with host bits set (the API server does too) and
// masks it, so callers only ever see canonical prefixes.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	return p.Masked(), nil
}

// podCIDRField names the field the node's pod CIDRs were read from.
func podCIDRField(n *slimnode.Node) string {
	if len(n.Spec.PodCIDRs) == 0 {
		return "spec.podCIDR"
	}
	return "spec.podCIDRs"
}
