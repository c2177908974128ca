package bgp

import (
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
)

func TestPeersNegotiateOnlyTheFamilyOfTheirAddress(t *testing.T) {
	tests := []struct {
		addr string
		want *api.Family
	}{
		{"10.199.1.12", familyIPv4},
		{"::ffff:10.199.1.12", familyIPv4},
		{"fd00::12", familyIPv6},
	}
	for _, tt := range tests {
		got := peerFamilies(netip.MustParseAddr(tt.addr))
		if len(got) != 1 || !proto.Equal(got[0], tt.want) {
			t.Errorf("peerFamilies(%s) = %v, want only %v", tt.addr, got, tt.want)
		}
	}
}

func TestPeerAfiSafisCarryGracefulRestartPerFamilyWhenEnabled(t *testing.T) {
	addr := netip.MustParseAddr("fd00::12")
	with := peerAfiSafis(addr, true, 0)
	if len(with) != 1 || !with[0].GetMpGracefulRestart().GetConfig().GetEnabled() || !with[0].GetConfig().GetEnabled() {
		t.Errorf("with graceful restart: %v", with)
	}
	without := peerAfiSafis(addr, false, 0)
	if len(without) != 1 || without[0].GetMpGracefulRestart() != nil {
		t.Errorf("without graceful restart: %v", without)
	}
}

func TestFamilyNamesAreReadable(t *testing.T) {
	for f, want := range map[*api.Family]string{
		familyIPv4: "ipv4-unicast",
		familyIPv6: "ipv6-unicast",
		{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}: "AFI_L2VPN/SAFI_EVPN",
		nil: "AFI_UNKNOWN/SAFI_UNKNOWN",
	} {
		if got := familyName(f); got != want {
			t.Errorf("familyName(%v) = %q, want %q", f, got, want)
		}
	}
}
