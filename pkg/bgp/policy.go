package bgp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
)

// Names of the policy objects this package owns in GoBGP. Every name
// starts with ownedPrefix: what else is there (made by hand with the gobgp
// CLI) is left alone.
const (
	ownedPrefix = "nodebgp-"

	ownPrefixSetV4 = "nodebgp-own-v4"
	ownPrefixSetV6 = "nodebgp-own-v6"
	// clusterSetV4/V6 hold Policy.ClusterCIDRs with every longer length.
	clusterSetV4 = "nodebgp-cluster-v4"
	clusterSetV6 = "nodebgp-cluster-v6"
	// serviceSetV4/V6 hold the prefixes of Desired.Services, exactly:
	// announced to upstream peers only.
	serviceSetV4 = "nodebgp-services-v4"
	serviceSetV6 = "nodebgp-services-v6"
	// upstreamPodSetV4/V6 hold Policy.UpstreamPodCIDRs, exactly.
	upstreamPodSetV4 = "nodebgp-upstream-pods-v4"
	upstreamPodSetV6 = "nodebgp-upstream-pods-v6"
	// reflectedPodSetV4/V6 (reflectedPodSetPrefix+family) hold
	// Policy.ReflectedPodCIDRs, exactly.
	reflectedPodSetPrefix = "nodebgp-reflected-pods-"
	reflectedPodSetV4     = reflectedPodSetPrefix + "v4"
	reflectedPodSetV6     = reflectedPodSetPrefix + "v6"
	// upstreamSet holds the upstream peers, ibgpNodeSet the node peers in
	// our AS (those a route reflector may reflect to).
	upstreamSet = "nodebgp-upstreams"
	ibgpNodeSet = "nodebgp-ibgp-nodes"
	// nodeSetPrefix+address names a node peer's neighbor set (its address
	// alone), and with -v4/-v6 appended its AcceptPrefixes.
	nodeSetPrefix = "nodebgp-node-"

	importLocalPolicy = "nodebgp-import-local"
	importNodePrefix  = "nodebgp-import-node-"
	// reflectedSuffix ends the import policy name of a node peer with
	// AcceptReflected.
	reflectedSuffix      = "-reflected"
	importUpstreamPolicy = "nodebgp-import-upstream"
	exportPolicy         = "nodebgp-export"
	upstreamExportPrefix = "nodebgp-export-upstream-"
	reflectPolicy        = "nodebgp-export-reflect"
	noServicesPolicy     = "nodebgp-export-no-services"

	// globalAssignment is GoBGP's name for policies that apply to every
	// neighbor. GoBGP v3 assigns policies per neighbor only to route-server
	// clients (server.go:4037, "non-rs-client peer ... doesn't have per
	// peer policy"), so per-peer rules are global statements that match the
	// neighbor with a neighbor set.
	globalAssignment = "global"
)

// neverNeighbors are members of every neighbor set of ours that match no
// peer. GoBGP lets an empty neighbor set match every neighbor
// (policy.go:1518), which would turn "to upstream peers" into "to every
// peer" when there are none; the unspecified addresses, which no peer can
// have (normalizePeers), keep each set non-empty.
var neverNeighbors = []string{"0.0.0.0/32", "::/128"}

// ownPrefixSetName returns the prefix set holding our own IPv4 (v4) or IPv6
// prefixes. GoBGP refuses a prefix set that mixes families, so there is one
// per family.
func ownPrefixSetName(v4 bool) string {
	if v4 {
		return ownPrefixSetV4
	}
	return ownPrefixSetV6
}

// serviceSetName returns the prefix set holding our own IPv4 (v4) or IPv6
// Service routes.
func serviceSetName(v4 bool) string {
	if v4 {
		return serviceSetV4
	}
	return serviceSetV6
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
