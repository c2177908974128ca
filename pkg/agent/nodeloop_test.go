package agent

import (
	"net/netip"
	"reflect"
	"testing"
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
