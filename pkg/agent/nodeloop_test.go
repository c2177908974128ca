package agent

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/nodeinfo"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestGatewayIsTheFirstHostOfEachPodCIDR(t *testing.T) {
	got := gateways(prefixes("10.244.1.0/24", "fd00:10:244:1::/64"))
	want := prefixes("10.244.1.1/24", "fd00:10:244:1::1/64")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("gateways = %v, want %v", got, want)
	}
}

func TestFamiliesOfPodCIDRs(t *testing.T) {
	tests := []struct {
		name           string
		cidrs          []netip.Prefix
		wantV4, wantV6 bool
	}{
		{"IPv4 only", prefixes("10.244.1.0/24"), true, false},
		{"dual-stack", prefixes("10.244.1.0/24", "fd00::/64"), true, true},
		{"IPv6 only", prefixes("fd00::/64"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := families(tt.cidrs)
			if v4 != tt.wantV4 || v6 != tt.wantV6 {
				t.Fatalf("families = %v,%v want %v,%v", v4, v6, tt.wantV4, tt.wantV6)
			}
		})
	}
}

func TestOwnPrefixesNeverBecomeKernelRoutes(t *testing.T) {
	a := &agent{initialCIDRs: prefixes("10.244.1.0/24")}
	for p, want := range map[string]bool{"10.244.1.0/24": true, "10.244.1.128/25": true, "10.244.0.0/16": true, "10.244.2.0/24": false} {
		if got := a.ownsPrefix(netip.MustParsePrefix(p)); got != want {
			t.Errorf("ownsPrefix(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestEachPodCIDRIsAdvertisedViaTheNodeIPOfItsFamily(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		cidrs   []netip.Prefix
		nodeIPs []netip.Addr
		want    []bgp.Path
	}{
		{"IPv4 only", prefixes("10.244.1.0/24"), []netip.Addr{ip("10.199.1.11")},
			[]bgp.Path{{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: ip("10.199.1.11")}}},
		{"dual-stack", prefixes("10.244.1.0/24", "fd00:10:244:1::/64"), []netip.Addr{ip("10.199.1.11"), ip("fd00:199:1::11")},
			[]bgp.Path{
				{Prefix: netip.MustParsePrefix("10.244.1.0/24"), NextHop: ip("10.199.1.11")},
				{Prefix: netip.MustParsePrefix("fd00:10:244:1::/64"), NextHop: ip("fd00:199:1::11")},
			}},
		{"an IPv6 pod CIDR on a node without IPv6 keeps the node IP (refused by the speaker)",
			prefixes("fd00:10:244:1::/64"), []netip.Addr{ip("10.199.1.11")},
			[]bgp.Path{{Prefix: netip.MustParsePrefix("fd00:10:244:1::/64"), NextHop: ip("10.199.1.11")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := advertisements(tt.cidrs, tt.nodeIPs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("advertisements = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTheIPv6NodeIPIsSetOnlyOnDualStackNodes(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name string
		info nodeinfo.Info
		want netip.Addr
	}{
		{"IPv4 only", nodeinfo.Info{InternalIP: ip("10.199.1.11"), InternalIPs: []netip.Addr{ip("10.199.1.11")}}, netip.Addr{}},
		{"dual-stack", nodeinfo.Info{InternalIP: ip("10.199.1.11"), InternalIPs: []netip.Addr{ip("10.199.1.11"), ip("fd00:199:1::11")}}, ip("fd00:199:1::11")},
		{"IPv6 only: its one address is the node IP", nodeinfo.Info{InternalIP: ip("fd00:199:1::11"), InternalIPs: []netip.Addr{ip("fd00:199:1::11")}}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secondIPv6(tt.info); got != tt.want {
				t.Fatalf("secondIPv6 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeIPsOfADualStackNodeListIPv4First(t *testing.T) {
	a := &agent{nodeIP: netip.MustParseAddr("10.199.1.11"), nodeIP6: netip.MustParseAddr("fd00:199:1::11")}
	if got := a.nodeIPs(); !reflect.DeepEqual(got, []netip.Addr{a.nodeIP, a.nodeIP6}) {
		t.Fatalf("nodeIPs = %v, want both families, IPv4 first", got)
	}
}
