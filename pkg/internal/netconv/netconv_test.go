package netconv

import (
	"net"
	"net/netip"
	"testing"
)

func TestNetipPrefix(t *testing.T) {
	tests := []struct {
		name   string
		in     *net.IPNet
		want   netip.Prefix
		wantOK bool
	}{
		{name: "IPv4 in four bytes", in: &net.IPNet{IP: net.IP{10, 0, 0, 0}, Mask: net.CIDRMask(8, 32)}, want: netip.MustParsePrefix("10.0.0.0/8"), wantOK: true},
		{name: "IPv4 in its sixteen-byte form", in: &net.IPNet{IP: net.ParseIP("10.1.2.0"), Mask: net.CIDRMask(24, 32)}, want: netip.MustParsePrefix("10.1.2.0/24"), wantOK: true},
		{name: "IPv6", in: &net.IPNet{IP: net.ParseIP("2001:db8::"), Mask: net.CIDRMask(32, 128)}, want: netip.MustParsePrefix("2001:db8::/32"), wantOK: true},
		{name: "IPv4 default route", in: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, want: netip.MustParsePrefix("0.0.0.0/0"), wantOK: true},
		{name: "nil", in: nil},
		{name: "IPv6 address with an IPv4 mask", in: &net.IPNet{IP: net.ParseIP("2001:db8::"), Mask: net.CIDRMask(8, 32)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Prefix(tc.in)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("Prefix(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestIPNetRoundTrip(t *testing.T) {
	for _, s := range []string{"10.244.1.0/24", "0.0.0.0/0", "fd00::/8", "::/0", "192.0.2.7/32"} {
		p := netip.MustParsePrefix(s)
		got, ok := Prefix(IPNet(p))
		if !ok || got != p {
			t.Errorf("Prefix(IPNet(%s)) = %v, %v", s, got, ok)
		}
	}
}
