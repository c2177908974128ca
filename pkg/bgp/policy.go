package bgp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
)

// Names of the policy objects this package owns in GoBGP.
const (
	ownPrefixSetV4 = "nodebgp-own-v4"
	ownPrefixSetV6 = "nodebgp-own-v6"
	exportPolicy   = "nodebgp-export"
	// globalAssignment is GoBGP's name for policies that apply to every
	// neighbor (that is not a route-server client).
	globalAssignment = "global"
)

// ownPrefixSetName returns the prefix set holding our own IPv4 (v4) or IPv6
// prefixes. GoBGP refuses a prefix set that mixes families, so there is one
// per family.
func ownPrefixSetName(v4 bool) string {
	if v4 {
		return ownPrefixSetV4
	}
	return ownPrefixSetV6
}

// ownPrefixSets are the (initially empty) prefix sets of our own prefixes.
// They must be changed only by adding and removing members: replacing a set
// in GoBGP detaches it from the statements that already refer to it.
func ownPrefixSets() []*api.DefinedSet {
	return []*api.DefinedSet{
		{DefinedType: api.DefinedType_PREFIX, Name: ownPrefixSetV4},
		{DefinedType: api.DefinedType_PREFIX, Name: ownPrefixSetV6},
	}
}

// ownExportPolicy accepts routes whose prefix is exactly one of our own.
func ownExportPolicy() *api.Policy {
	accept := func(set string) *api.Statement {
		return &api.Statement{
			Name:       exportPolicy + "-" + set,
			Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: set}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}
	}
	return &api.Policy{
		Name:       exportPolicy,
		Statements: []*api.Statement{accept(ownPrefixSetV4), accept(ownPrefixSetV6)},
	}
}

// exportAssignment applies ownExportPolicy to every neighbor and rejects
// everything else, so that only SetAdvertised's prefixes leave the node and
// learned routes are never passed on (a node is not a transit router).
//
// Imports have no assignment: GoBGP then accepts every learned route.
func exportAssignment() *api.PolicyAssignment {
	return &api.PolicyAssignment{
		Name:          globalAssignment,
		Direction:     api.PolicyDirection_EXPORT,
		Policies:      []*api.Policy{{Name: exportPolicy}},
		DefaultAction: api.RouteAction_REJECT,
	}
}

// exactPrefix is the prefix-set member matching exactly p.
func exactPrefix(p netip.Prefix) *api.Prefix {
	return &api.Prefix{
		IpPrefix:      p.String(),
		MaskLengthMin: uint32(p.Bits()),
		MaskLengthMax: uint32(p.Bits()),
	}
}

// prefixSetDiff compares our desired prefixes of one family with the
// members of their set. Members that are not an exact match of a desired
// prefix (say, added by hand with a length range) are removed.
func prefixSetDiff(desired []netip.Prefix, actual []*api.Prefix) (add, remove []*api.Prefix) {
	want := make(map[string]bool, len(desired))
	for _, p := range desired {
		want[memberKey(exactPrefix(p))] = true
	}
	have := make(map[string]bool, len(actual))
	for _, m := range actual {
		k := memberKey(m)
		have[k] = true
		if !want[k] {
			remove = append(remove, m)
		}
	}
	for _, p := range desired {
		m := exactPrefix(p)
		if k := memberKey(m); !have[k] {
			have[k] = true
			add = append(add, m)
		}
	}
	byKey := func(a, b *api.Prefix) int { return cmp.Compare(memberKey(a), memberKey(b)) }
	slices.SortFunc(add, byKey)
	slices.SortFunc(remove, byKey)
	return add, remove
}

func memberKey(m *api.Prefix) string {
	return fmt.Sprintf("%s %d..%d", m.GetIpPrefix(), m.GetMaskLengthMin(), m.GetMaskLengthMax())
}
