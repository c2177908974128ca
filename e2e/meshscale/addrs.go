package meshscale

import "net/netip"

// PodCIDR is the i-th /24 of r (i = 0 is r's first): the pod CIDR of the
// i-th node of the benchmark's mesh, the agent's being the 0th.
func PodCIDR(r netip.Prefix, i int) netip.Prefix {
	a := r.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) << 8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 24)
}
