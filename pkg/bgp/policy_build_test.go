package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
)

func TestDesiredPolicyStateFiltersEachKindOfPeer(t *testing.T) {
	n3 := Peer{Name: "n3", Address: netip.MustParseAddr("10.199.1.13"), ASN: testASN,
		AcceptPrefixes: []netip.Prefix{netip.MustParsePrefix("10.244.3.0/24"), netip.MustParsePrefix("fd00:244:3::/64")}}
	n2 := Peer{Name: "n2", Address: netip.MustParseAddr("10.199.1.12"), ASN: 65002}
	tor := Peer{Name: "tor", Address: netip.MustParseAddr("10.199.1.1"), ASN: 65000, Kind: PeerUpstream}
	pol := Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:244::/48")}}
	st := desiredPolicyState(pol, []Peer{n3, tor, n2}, nil, nil, testASN, false)

	wantImports := []string{importLocalPolicy, importNodePrefix + "10.199.1.12", importNodePrefix + "10.199.1.13", importUpstreamPolicy}
	if !reflect.DeepEqual(st.imports, wantImports) || st.importAction != api.RouteAction_REJECT {
		t.Errorf("imports = %v default %v; want %v default reject", st.imports, st.importAction, wantImports)
	}
	if want := []string{pol.upstreamExportPolicyName(), noServicesPolicy, exportPolicy}; !reflect.DeepEqual(st.exports, want) {
		t.Errorf("exports = %v, want %v (no reflection when not a reflector)", st.exports, want)
	}
	wantSets := map[string][]string{
		upstreamSet:                   {"0.0.0.0/32", "10.199.1.1/32", "::/128"},
		ibgpNodeSet:                   {"0.0.0.0/32", "10.199.1.13/32", "::/128"},
		nodeSetPrefix + "10.199.1.12": {"10.199.1.12/32"},
		nodeSetPrefix + "10.199.1.13": {"10.199.1.13/32"},
	}
	if !reflect.DeepEqual(st.neighborSets, wantSets) {
		t.Errorf("neighbor sets = %v, want %v", st.neighborSets, wantSets)
	}
	prefixes := map[string][]*api.Prefix{
		nodeSetPrefix + "10.199.1.13-v4": {exactPrefix(netip.MustParsePrefix("10.244.3.0/24"))},
		nodeSetPrefix + "10.199.1.13-v6": {exactPrefix(netip.MustParsePrefix("fd00:244:3::/64"))},
		nodeSetPrefix + "10.199.1.12-v4": nil,
		clusterSetV4:                     {{IpPrefix: "10.244.0.0/16", MaskLengthMin: 16, MaskLengthMax: 32}},
		clusterSetV6:                     {{IpPrefix: "fd00:244::/48", MaskLengthMin: 48, MaskLengthMax: 128}},
	}
	for name, want := range prefixes {
		if got, ok := st.prefixSets[name]; !ok || !protoSlicesEqual(got, want) {
			t.Errorf("prefix set %s = %v (exists %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := st.prefixSets[ownPrefixSetV4]; !ok {
		t.Errorf("own prefix set %s missing", ownPrefixSetV4)
	}

	st = desiredPolicyState(Policy{AcceptUpstreamRoutes: true}, nil, nil, nil, testASN, true)
	if st.importAction != api.RouteAction_ACCEPT {
		t.Errorf("AcceptUpstreamRoutes: import default = %v, want accept", st.importAction)
	}
	if st.exports[len(st.exports)-1] != reflectPolicy {
		t.Errorf("reflector: exports = %v, want %s last", st.exports, reflectPolicy)
	}
}

func TestNodeImportPolicyAcceptsItsPrefixesThenRejectsTheRestFromThatNode(t *testing.T) {
	tests := []struct {
		name      string
		reflected bool
		wantName  string
		want      []string
	}{
		{"a node peer: its own prefix sets", false, "nodebgp-import-node-10.199.1.12", []string{
			"nodebgp-node-10.199.1.12 nodebgp-node-10.199.1.12-v4 ACCEPT",
			"nodebgp-node-10.199.1.12 nodebgp-node-10.199.1.12-v6 ACCEPT",
			"nodebgp-node-10.199.1.12  REJECT",
		}},
		{"a route reflector of ours: the reflected-pod sets every reflector shares", true, "nodebgp-import-node-10.199.1.12-reflected", []string{
			"nodebgp-node-10.199.1.12 nodebgp-reflected-pods-v4 ACCEPT",
			"nodebgp-node-10.199.1.12 nodebgp-reflected-pods-v6 ACCEPT",
			"nodebgp-node-10.199.1.12  REJECT",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := nodeImportPolicy(netip.MustParseAddr("10.199.1.12"), tt.reflected)
			if p.GetName() != tt.wantName {
				t.Errorf("policy name %q, want %q", p.GetName(), tt.wantName)
			}
			var got []string
			for _, s := range p.GetStatements() {
				c := s.GetConditions()
				got = append(got, c.GetNeighborSet().GetName()+" "+c.GetPrefixSet().GetName()+" "+s.GetActions().GetRouteAction().String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpstreamExportPolicyAddsCommunitiesAndPrependsOurASN(t *testing.T) {
	pol := Policy{Communities: []string{"64512:100"}, LargeCommunities: []string{"64512:1:1"}, PrependCount: 3}
	p := upstreamExportPolicy(pol, testASN)
	want := &api.Actions{
		RouteAction:    api.RouteAction_ACCEPT,
		Community:      &api.CommunityAction{Type: api.CommunityAction_ADD, Communities: []string{"64512:100"}},
		LargeCommunity: &api.CommunityAction{Type: api.CommunityAction_ADD, Communities: []string{"64512:1:1"}},
		AsPrepend:      &api.AsPrependAction{Asn: testASN, Repeat: 3},
	}
	for _, s := range p.GetStatements() {
		if !proto.Equal(s.GetActions(), want) || s.GetConditions().GetNeighborSet().GetName() != upstreamSet {
			t.Errorf("statement %s = %v", s.GetName(), s)
		}
	}
	plain := upstreamExportPolicy(Policy{}, testASN).GetStatements()[0].GetActions()
	if !proto.Equal(plain, &api.Actions{RouteAction: api.RouteAction_ACCEPT}) {
		t.Errorf("no communities, no prepending: actions %v, want accept only", plain)
	}
	if pol.upstreamExportPolicyName() == (Policy{}).upstreamExportPolicyName() {
		t.Error("different export settings share a policy name")
	}
	if pol.upstreamExportPolicyName() != p.GetName() || !strings.HasPrefix(p.GetName(), ownedPrefix) {
		t.Errorf("policy name %q", p.GetName())
	}
}

func TestPolicyNormalizeNamesEveryBadFieldAndSortsTheRest(t *testing.T) {
	got, err := Policy{
		ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.7.1/16"), {}},
		Communities:      []string{"64512:200", "64512:100", "70000:1", "x"},
		LargeCommunities: []string{"64512:1:1", "1:2"},
		PrependCount:     17,
	}.normalize()
	for _, sub := range []string{
		"Policy.ClusterCIDRs[1]", `Policy.Communities[2]: "70000:1"`, `Policy.Communities[3]: "x"`,
		`Policy.LargeCommunities[1]: "1:2"`, "Policy.PrependCount: 17",
	} {
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Errorf("error %v, want it to name %s", err, sub)
		}
	}
	want := Policy{
		ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Communities:      []string{"64512:100", "64512:200"},
		LargeCommunities: []string{"64512:1:1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalized = %+v, want %+v", got, want)
	}
	if _, err := (Policy{PrependCount: 16, LargeCommunities: []string{"4294967295:0:1"}}).normalize(); err != nil {
		t.Errorf("valid policy: %v", err)
	}
}

func TestCheckPeerSettingsRefusesSettingsThatCannotWork(t *testing.T) {
	base := peer("tor", "10.199.1.1", 65000, 179)
	tests := []struct {
		name string
		p    Peer
		sub  string // "" = valid
	}{
		{name: "defaults", p: base},
		{name: "all set", p: with(base, func(p *Peer) {
			p.HoldTime, p.KeepaliveTime, p.Password, p.LocalAddress = 9e9, 3e9, "pw", netip.MustParseAddr("10.199.1.11")
		})},
		{name: "unknown kind", p: with(base, func(p *Peer) { p.Kind = 7 }), sub: "Kind"},
		{name: "local address of the other family", p: with(base, func(p *Peer) { p.LocalAddress = netip.MustParseAddr("fd00::1") }), sub: "LocalAddress"},
		{name: "hold time below 3s", p: with(base, func(p *Peer) { p.HoldTime = 2e9 }), sub: "HoldTime"},
		{name: "keepalive not below hold", p: with(base, func(p *Peer) { p.HoldTime, p.KeepaliveTime = 9e9, 9e9 }), sub: "KeepaliveTime"},
		{name: "negative connect retry", p: with(base, func(p *Peer) { p.ConnectRetry = -1e9 }), sub: "ConnectRetry"},
		{name: "keepalive not below the default hold", p: with(base, func(p *Peer) { p.KeepaliveTime = 90e9 }), sub: "KeepaliveTime"},
		{name: "password too long", p: with(base, func(p *Peer) { p.Password = strings.Repeat("x", 81) }), sub: "Password: 81 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPeerSettings(tt.p)
			if (tt.sub == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.sub)) {
				t.Errorf("error = %v, want one naming %q", err, tt.sub)
			}
			if err != nil && tt.p.Password != "" && strings.Contains(err.Error(), tt.p.Password) {
				t.Errorf("error %v shows the password", err)
			}
		})
	}
}

func TestCompleteDropsRouteReflectorClientsItCannotServe(t *testing.T) {
	client := with(peer("n2", "10.199.1.12", testASN, 179), func(p *Peer) { p.RouteReflectorClient = true })
	ebgp := with(peer("n3", "10.199.1.13", 65003, 179), func(p *Peer) { p.RouteReflectorClient = true })
	if _, err := (peerSettings{}).complete([]Peer{client}, testASN); err == nil || !strings.Contains(err.Error(), "not a route reflector") {
		t.Errorf("client without a cluster ID: error %v", err)
	}
	got, err := (peerSettings{clusterID: "10.255.255.1"}).complete([]Peer{client, ebgp}, testASN)
	if len(got) != 1 || got[0].Address != client.Address || err == nil || !strings.Contains(err.Error(), "only iBGP") {
		t.Errorf("complete = %v, %v; want the iBGP client only and an error for the eBGP one", got, err)
	}
}

func TestMemberDiffAddsMissingAndRemovesExtraMembers(t *testing.T) {
	id := func(s string) string { return s }
	add, remove := memberDiff([]string{"a", "b", "b"}, []string{"b", "c"}, id)
	if !reflect.DeepEqual(add, []string{"a"}) || !reflect.DeepEqual(remove, []string{"c"}) {
		t.Errorf("add %v remove %v; want add [a] remove [c]", add, remove)
	}
}
