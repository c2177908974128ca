package hostnet

import (
	"net"
	"net/netip"
)

// Netlink speaks net.IP and net.IPNet; the rest of the agent speaks netip.
// These two helpers are where they meet in this package (pkg/routes has the
// same ones for routes).

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// netipPrefix converts an interface address. The mask's length, not the IP's,
// says the family: netlink keeps IPv4 masks at four bytes.
func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
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
