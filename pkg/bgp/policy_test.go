package bgp

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
)

func TestOwnPrefixSetsAreEmptyPrefixSetsOnePerFamily(t *testing.T) {
	sets := ownPrefixSets()
	if len(sets) != 2 {
		t.Fatalf("sets = %v, want two", sets)
	}
	for i, name := range []string{ownPrefixSetName(true), ownPrefixSetName(false)} {
		if sets[i].GetName() != name || sets[i].GetDefinedType() != api.DefinedType_PREFIX || len(sets[i].GetPrefixes()) != 0 {
			t.Errorf("set %d = %v, want empty prefix set %s", i, sets[i], name)
		}
	}
	if ownPrefixSetName(true) == ownPrefixSetName(false) {
		t.Error("IPv4 and IPv6 share a prefix set; GoBGP refuses mixed families")
	}
}

func TestExportPolicyAcceptsOnlyOwnPrefixesAndRejectsTheRest(t *testing.T) {
	pol := ownExportPolicy()
	var sets []string
	for _, st := range pol.GetStatements() {
		if st.GetActions().GetRouteAction() != api.RouteAction_ACCEPT {
			t.Errorf("statement %s action = %v, want accept", st.GetName(), st.GetActions().GetRouteAction())
		}
		ps := st.GetConditions().GetPrefixSet()
		if ps.GetType() != api.MatchSet_ANY {
			t.Errorf("statement %s matches %v of its set, want any", st.GetName(), ps.GetType())
		}
		sets = append(sets, ps.GetName())
	}
	if want := []string{ownPrefixSetV4, ownPrefixSetV6}; !reflect.DeepEqual(sets, want) {
		t.Errorf("policy matches sets %v, want %v", sets, want)
	}

	st := desiredPolicyState(Policy{}, nil, nil, nil, testASN, false)
	if !slices.Contains(st.exports, pol.GetName()) {
		t.Errorf("export assignment %v lacks %s", st.exports, pol.GetName())
	}
}

func TestExactPrefixMatchesOnlyThePrefixLength(t *testing.T) {
	got := exactPrefix(netip.MustParsePrefix("10.244.1.0/24"))
	want := &api.Prefix{IpPrefix: "10.244.1.0/24", MaskLengthMin: 24, MaskLengthMax: 24}
	if !proto.Equal(got, want) {
		t.Errorf("exactPrefix = %v, want %v", got, want)
	}
}

func TestPrefixSetDiffMakesTheSetEqualTheDesiredPrefixes(t *testing.T) {
	p := netip.MustParsePrefix
	m := func(s string) *api.Prefix { return exactPrefix(p(s)) }
	ranged := &api.Prefix{IpPrefix: "10.244.1.0/24", MaskLengthMin: 24, MaskLengthMax: 32}
	tests := []struct {
		name        string
		desired     []netip.Prefix
		actual      []*api.Prefix
		add, remove []*api.Prefix
	}{
		{name: "empty stays empty"},
		{name: "fill", desired: []netip.Prefix{p("10.244.2.0/24"), p("10.244.1.0/24")}, add: []*api.Prefix{m("10.244.1.0/24"), m("10.244.2.0/24")}},
		{name: "unchanged", desired: []netip.Prefix{p("10.244.1.0/24")}, actual: []*api.Prefix{m("10.244.1.0/24")}},
		{name: "empty out", actual: []*api.Prefix{m("10.244.1.0/24")}, remove: []*api.Prefix{m("10.244.1.0/24")}},
		{
			name:    "a hand-made range member is replaced by the exact one",
			desired: []netip.Prefix{p("10.244.1.0/24")}, actual: []*api.Prefix{ranged},
			add: []*api.Prefix{m("10.244.1.0/24")}, remove: []*api.Prefix{ranged},
		},
		{
			name:    "repeated desired prefixes are added once",
			desired: []netip.Prefix{p("10.244.1.0/24"), p("10.244.1.0/24")},
			add:     []*api.Prefix{m("10.244.1.0/24")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			add, remove := prefixSetDiff(tt.desired, tt.actual)
			if !protoSlicesEqual(add, tt.add) || !protoSlicesEqual(remove, tt.remove) {
				t.Fatalf("diff = add %v remove %v; want add %v remove %v", add, remove, tt.add, tt.remove)
			}
			// Applied, the diff leaves nothing to do.
			after := append(withoutMembers(tt.actual, remove), add...)
			if add2, remove2 := prefixSetDiff(tt.desired, after); len(add2)+len(remove2) != 0 {
				t.Fatalf("second diff = add %v remove %v, want empty", add2, remove2)
			}
		})
	}
}

func withoutMembers(set, remove []*api.Prefix) []*api.Prefix {
	var out []*api.Prefix
	for _, m := range set {
		drop := false
		for _, r := range remove {
			drop = drop || proto.Equal(m, r)
		}
		if !drop {
			out = append(out, m)
		}
	}
	return out
}

func protoSlicesEqual[T proto.Message](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
