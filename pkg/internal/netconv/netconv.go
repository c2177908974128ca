// Package netconv is where netlink's net.IP and net.IPNet meet the netip
// types the rest of the agent speaks (pkg/routes, pkg/hostnet).
package netconv

import (
	"net"
	"net/netip"
)

// IPNet is p as netlink takes it.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// Addr is ip as a netip.Addr, IPv4 in its 4-byte form.
func Addr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	// netlink may hand an IPv4 address in its 16-byte form.
	if len(ip) == net.IPv6len && ip.To4() != nil {
		a = a.Unmap()
	}
	return a, true
}

// Prefix converts a kernel route destination or interface address. The
// mask's length, not the IP's, says the family: netlink keeps IPv4 masks at
// four bytes.
func Prefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok || bits == 0 {
		return netip.Prefix{}, false
	}
	if bits == 32 {
		a = a.Unmap()
	}
	if a.BitLen() != bits {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}
