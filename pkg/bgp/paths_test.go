package bgp

import (
	"reflect"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAPIPathCarriesOriginIGPAndTheNextHopInTheRightAttribute(t *testing.T) {
	v4, err := apiPath(path("10.244.1.0/24", "10.199.1.11"))
	if err != nil {
		t.Fatal(err)
	}
	v6, err := apiPath(path("fd00:244:1::/64", "fd00:199::11"))
	if err != nil {
		t.Fatal(err)
	}
	attrTypes := func(p *api.Path) []string {
		var out []string
		for _, a := range p.GetPattrs() {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			switch x := m.(type) {
			case *api.OriginAttribute:
				out = append(out, "origin="+map[uint32]string{0: "igp"}[x.GetOrigin()])
			case *api.NextHopAttribute:
				out = append(out, "next-hop="+x.GetNextHop())
			case *api.MpReachNLRIAttribute:
				out = append(out, "mp-reach="+strings.Join(x.GetNextHops(), ",")+" "+familyName(x.GetFamily()))
			}
		}
		return out
	}
	if got, want := attrTypes(v4), []string{"origin=igp", "next-hop=10.199.1.11"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv4 attributes = %v, want %v", got, want)
	}
	if got, want := attrTypes(v6), []string{"origin=igp", "mp-reach=fd00:199::11 ipv6-unicast"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv6 attributes = %v, want %v", got, want)
	}
	if !proto.Equal(v4.GetFamily(), familyIPv4) || !proto.Equal(v6.GetFamily(), familyIPv6) {
		t.Errorf("families = %v, %v", v4.GetFamily(), v6.GetFamily())
	}
}

func TestPathFromAPIReadsBackWhatAPIPathWrote(t *testing.T) {
	for _, p := range []Path{
		path("10.244.1.0/24", "10.199.1.11"),
		path("0.0.0.0/0", "10.199.1.1"),
		path("fd00:244:1::/64", "fd00:199::11"),
	} {
		ap, err := apiPath(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := pathFromAPI(ap); err != nil || got != p {
			t.Errorf("pathFromAPI(apiPath(%v)) = %v, %v", p, got, err)
		}
	}
}

func TestPathFromAPISkipsMalformedPathsWithAnErrorNamingThem(t *testing.T) {
	prefix := func(p string, l uint32) *anypb.Any { return mustAny(t, &api.IPAddressPrefix{Prefix: p, PrefixLen: l}) }
	nh := func(a string) *anypb.Any { return mustAny(t, &api.NextHopAttribute{NextHop: a}) }
	mp := func(a ...string) *anypb.Any {
		return mustAny(t, &api.MpReachNLRIAttribute{Family: familyIPv6, NextHops: a})
	}
	origin := mustAny(t, &api.OriginAttribute{})
	garbage := &anypb.Any{TypeUrl: "type.googleapis.com/api.NoSuchThing", Value: []byte{0xff}}
	broken := &anypb.Any{TypeUrl: "type.googleapis.com/api.IPAddressPrefix", Value: []byte{0xff, 0xff}}
	tests := []struct {
		name    string
		path    *api.Path
		want    Path
		errSubs []string // empty: the path converts
	}{
		{name: "nil path", errSubs: []string{"nil path"}},
		{name: "no nlri", path: &api.Path{NeighborIp: "10.0.0.2"}, errSubs: []string{`from "10.0.0.2"`, "nlri: missing"}},
		{name: "unknown nlri type", path: &api.Path{Nlri: garbage}, errSubs: []string{"nlri"}},
		{name: "undecodable nlri", path: &api.Path{Nlri: broken}, errSubs: []string{"nlri"}},
		{
			name:    "nlri of another family",
			path:    &api.Path{Nlri: mustAny(t, &api.EVPNMACIPAdvertisementRoute{})},
			errSubs: []string{"is not a unicast prefix"},
		},
		{name: "prefix is not an address", path: &api.Path{Nlri: prefix("10.244.1", 24)}, errSubs: []string{"nlri"}},
		{name: "prefix length too long", path: &api.Path{Nlri: prefix("10.244.1.0", 33)}, errSubs: []string{"prefix length 33 exceeds 32"}},
		{
			name:    "no next hop",
			path:    &api.Path{NeighborIp: "10.0.0.2", Nlri: prefix("10.244.1.0", 24), Pattrs: []*anypb.Any{origin}},
			errSubs: []string{`path 10.244.1.0/24 from "10.0.0.2"`, "next hop: missing"},
		},
		{name: "next hop is not an address", path: &api.Path{Nlri: prefix("10.244.1.0", 24), Pattrs: []*anypb.Any{nh("nope")}}, errSubs: []string{"path 10.244.1.0/24", "next hop"}},
		{name: "unspecified next hop", path: &api.Path{Nlri: prefix("10.244.1.0", 24), Pattrs: []*anypb.Any{nh("0.0.0.0")}}, errSubs: []string{"unspecified next hop"}},
		{name: "MP_REACH without next hops", path: &api.Path{Nlri: prefix("fd00::", 64), Pattrs: []*anypb.Any{mp()}}, errSubs: []string{"next hop: missing"}},
		{name: "nil attributes are ignored", path: &api.Path{Nlri: prefix("fd00::", 64), Pattrs: []*anypb.Any{nil, garbage, mp("fd00::1", "fe80::1")}}, want: path("fd00::/64", "fd00::1")},
		{name: "host bits are masked", path: &api.Path{Nlri: prefix("10.244.1.7", 24), Pattrs: []*anypb.Any{nh("10.0.0.2")}}, want: path("10.244.1.0/24", "10.0.0.2")},
		{name: "NEXT_HOP wins over MP_REACH", path: &api.Path{Nlri: prefix("10.244.1.0", 24), Pattrs: []*anypb.Any{mp("10.0.0.9"), nh("10.0.0.2")}}, want: path("10.244.1.0/24", "10.0.0.2")},
		{name: "mapped next hop becomes IPv4", path: &api.Path{Nlri: prefix("10.244.1.0", 24), Pattrs: []*anypb.Any{nh("::ffff:10.0.0.2")}}, want: path("10.244.1.0/24", "10.0.0.2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pathFromAPI(tt.path)
			if len(tt.errSubs) == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("pathFromAPI = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("pathFromAPI = %v, want an error", got)
			}
			for _, sub := range tt.errSubs {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
		})
	}
}
