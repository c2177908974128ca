package bgp

import (
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
)

// policyState is the whole of our policy in GoBGP: defined sets with their
// members, policies, and the order and default of the two global
// assignments.
type policyState struct {
	prefixSets   map[string][]*api.Prefix
	neighborSets map[string][]string
	policies     []*api.Policy
	imports      []string
	importAction api.RouteAction
	exports      []string
}

// desiredPolicyState derives our policy from the operator's Policy (pol,
// normalized), the peers (normalized), our own prefixes (those to
// advertise; see Apply for when the others leave their set), our ASN and
// whether this speaker is a route reflector.
//
// Import, first match wins (an ACCEPT or REJECT ends the evaluation):
//  1. our own paths (GoBGP runs the global import policy on them too);
//  2. per node peer: its AcceptPrefixes are accepted (from a route
//     reflector of ours, AcceptReflected: the ReflectedPodCIDRs, one set
//     for every reflector), the rest from it rejected, so that a node
//     cannot take over another's pod CIDR;
//  3. from anyone else (upstream peers): exactly the UpstreamPodCIDRs are
//     accepted; any other prefix within the cluster CIDRs is rejected; the
//     rest is accepted only with AcceptUpstreamRoutes (the assignment's
//     default action).
//
// Export, default reject, so that nothing learned leaves the node:
//  1. own prefixes (Service routes among them) to upstream peers, with
//     communities and prepending;
//  2. Service routes to anyone else rejected: they are for the fabric, and a
//     node peer would only drop them (its import takes pod CIDRs alone);
//  3. own prefixes to everyone else;
//  4. on a route reflector only: iBGP-learned paths to iBGP node peers, which
//     GoBGP itself sends only where reflection allows.
//
// own holds every prefix we originate, services those of them that are
// Service routes.
func desiredPolicyState(pol Policy, peers []Peer, own, services []netip.Prefix, asn uint32, reflector bool) policyState {
	st := policyState{
		prefixSets: map[string][]*api.Prefix{
			ownPrefixSetV4: exactMembers(own, true),
			ownPrefixSetV6: exactMembers(own, false),
			serviceSetV4:   exactMembers(services, true),
			serviceSetV6:   exactMembers(services, false),
			// Service routes are as much ours as pod CIDRs: no upstream
			// peer may send them back to be installed in the kernel.
			clusterSetV4: clusterMembers(slices.Concat(pol.ClusterCIDRs, pol.ServicePrefixes), true),
			clusterSetV6: clusterMembers(slices.Concat(pol.ClusterCIDRs, pol.ServicePrefixes), false),

			upstreamPodSetV4: exactMembers(pol.UpstreamPodCIDRs, true),
			upstreamPodSetV6: exactMembers(pol.UpstreamPodCIDRs, false),

			reflectedPodSetV4: exactMembers(pol.ReflectedPodCIDRs, true),
			reflectedPodSetV6: exactMembers(pol.ReflectedPodCIDRs, false),
		},
		neighborSets: map[string][]string{
			upstreamSet: slices.Clone(neverNeighbors),
			ibgpNodeSet: slices.Clone(neverNeighbors),
		},
		importAction: api.RouteAction_REJECT,
	}
	if pol.AcceptUpstreamRoutes {
		st.importAction = api.RouteAction_ACCEPT
	}
	st.addPolicy(importLocalPolicy, localImportPolicy(), true, false)
	// In address order, so that the same peers in another order give the
	// same assignment.
	peers = slices.SortedFunc(slices.Values(peers), func(a, b Peer) int { return a.Address.Compare(b.Address) })
	for _, p := range peers {
		member := neighborMember(p.Address)
		if p.Kind == PeerUpstream {
			st.neighborSets[upstreamSet] = append(st.neighborSets[upstreamSet], member)
			continue
		}
		if p.ASN == asn {
			st.neighborSets[ibgpNodeSet] = append(st.neighborSets[ibgpNodeSet], member)
		}
		base := nodeSetPrefix + p.Address.String()
		st.neighborSets[base] = []string{member}
		if !p.AcceptReflected {
			st.prefixSets[base+"-v4"] = exactMembers(p.AcceptPrefixes, true)
			st.prefixSets[base+"-v6"] = exactMembers(p.AcceptPrefixes, false)
		}
		pp := nodeImportPolicy(p.Address, p.AcceptReflected)
		st.addPolicy(pp.Name, pp, true, false)
	}
	st.addPolicy(importUpstreamPolicy, upstreamImportPolicy(), true, false)

	up := upstreamExportPolicy(pol, asn)
	st.addPolicy(up.Name, up, false, true)
	st.addPolicy(noServicesPolicy, noServicesExportPolicy(), false, true)
	st.addPolicy(exportPolicy, ownExportPolicy(), false, true)
	if reflector {
		st.addPolicy(reflectPolicy, reflectExportPolicy(), false, true)
	}
	for _, set := range st.neighborSets {
		slices.Sort(set)
	}
	return st
}

func (st *policyState) addPolicy(name string, p *api.Policy, imp, exp bool) {
	st.policies = append(st.policies, p)
	if imp {
		st.imports = append(st.imports, name)
	}
	if exp {
		st.exports = append(st.exports, name)
	}
}

// neighborMember is a neighbor-set member matching exactly addr, written
// as GoBGP lists it back.
func neighborMember(addr netip.Addr) string {
	return netip.PrefixFrom(addr, addr.BitLen()).String()
}

// exactMembers are prefix-set members matching exactly the prefixes of one
// family (IPv4 when v4), sorted.
func exactMembers(prefixes []netip.Prefix, v4 bool) []*api.Prefix {
	var out []*api.Prefix
	for _, p := range prefixes {
		if p.Addr().Is4() == v4 {
			out = append(out, exactPrefix(p))
		}
	}
	return out
}

// clusterMembers are prefix-set members matching the cluster CIDRs of one
// family and everything inside them: a more-specific route is a hijack
// too.
func clusterMembers(prefixes []netip.Prefix, v4 bool) []*api.Prefix {
	var out []*api.Prefix
	for _, p := range prefixes {
		if p.Addr().Is4() == v4 {
			out = append(out, &api.Prefix{
				IpPrefix:      p.String(),
				MaskLengthMin: uint32(p.Bits()),
				MaskLengthMax: uint32(p.Addr().BitLen()),
			})
		}
	}
	return out
}

func matchAny(set string) *api.MatchSet {
	return &api.MatchSet{Type: api.MatchSet_ANY, Name: set}
}

// localImportPolicy accepts the paths this speaker originates.
func localImportPolicy() *api.Policy {
	return &api.Policy{Name: importLocalPolicy, Statements: []*api.Statement{{
		Name:       importLocalPolicy + "-accept",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
	}}}
}

// nodeImportPolicy accepts from the node peer at addr exactly the members
// of its prefix sets, or of the reflected-pod sets when it is a route
// reflector of ours, and rejects everything else it sends. The two kinds
// have different names: GoBGP's policies are only ever added and deleted,
// never changed (syncPolicy).
func nodeImportPolicy(addr netip.Addr, reflected bool) *api.Policy {
	name := importNodePrefix + addr.String()
	base := nodeSetPrefix + addr.String()
	set := func(family string) string { return base + "-" + family }
	if reflected {
		name += reflectedSuffix
		set = func(family string) string { return reflectedPodSetPrefix + family }
	}
	accept := func(family string) *api.Statement {
		return &api.Statement{
			Name:       name + "-accept-" + family,
			Conditions: &api.Conditions{NeighborSet: matchAny(base), PrefixSet: matchAny(set(family))},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}
	}
	return &api.Policy{Name: name, Statements: []*api.Statement{
		accept("v4"), accept("v6"),
		{
			Name:       name + "-reject",
			Conditions: &api.Conditions{NeighborSet: matchAny(base)},
			Actions:    &api.Actions{RouteAction: api.RouteAction_REJECT},
		},
	}}
}

// upstreamImportPolicy accepts exactly the other nodes' pod CIDRs it is
// given and rejects every other prefix within the cluster CIDRs.
func upstreamImportPolicy() *api.Policy {
	statement := func(set string, action api.RouteAction) *api.Statement {
		return &api.Statement{
			Name:       importUpstreamPolicy + "-" + set,
			Conditions: &api.Conditions{PrefixSet: matchAny(set)},
			Actions:    &api.Actions{RouteAction: action},
		}
	}
	return &api.Policy{Name: importUpstreamPolicy, Statements: []*api.Statement{
		statement(upstreamPodSetV4, api.RouteAction_ACCEPT), statement(upstreamPodSetV6, api.RouteAction_ACCEPT),
		statement(clusterSetV4, api.RouteAction_REJECT), statement(clusterSetV6, api.RouteAction_REJECT),
	}}
}

// upstreamExportPolicy accepts our own prefixes towards upstream peers,
// with pol's communities and AS-path prepending.
func upstreamExportPolicy(pol Policy, asn uint32) *api.Policy {
	name := pol.upstreamExportPolicyName()
	actions := func() *api.Actions {
		a := &api.Actions{RouteAction: api.RouteAction_ACCEPT}
		if len(pol.Communities) > 0 {
			a.Community = &api.CommunityAction{Type: api.CommunityAction_ADD, Communities: slices.Clone(pol.Communities)}
		}
		if len(pol.LargeCommunities) > 0 {
			a.LargeCommunity = &api.CommunityAction{Type: api.CommunityAction_ADD, Communities: slices.Clone(pol.LargeCommunities)}
		}
		if pol.PrependCount > 0 {
			a.AsPrepend = &api.AsPrependAction{Asn: asn, Repeat: uint32(pol.PrependCount)}
		}
		return a
	}
	accept := func(set string) *api.Statement {
		return &api.Statement{
			Name:       name + "-" + set,
			Conditions: &api.Conditions{PrefixSet: matchAny(set), NeighborSet: matchAny(upstreamSet)},
			Actions:    actions(),
		}
	}
	return &api.Policy{Name: name, Statements: []*api.Statement{accept(ownPrefixSetV4), accept(ownPrefixSetV6)}}
}

// noServicesExportPolicy rejects our Service routes to every peer the
// upstream export policy before it did not already accept them for.
func noServicesExportPolicy() *api.Policy {
	reject := func(set string) *api.Statement {
		return &api.Statement{
			Name:       noServicesPolicy + "-" + set,
			Conditions: &api.Conditions{PrefixSet: matchAny(set)},
			Actions:    &api.Actions{RouteAction: api.RouteAction_REJECT},
		}
	}
	return &api.Policy{Name: noServicesPolicy, Statements: []*api.Statement{reject(serviceSetV4), reject(serviceSetV6)}}
}

// reflectExportPolicy lets a route reflector pass iBGP-learned paths on to
// node peers in its AS (never to eBGP peers: that would be transit). Which of them GoBGP actually sends follows RFC 4456: from a
// client to all, from a non-client to clients only; a speaker that is not
// a reflector never sends iBGP-learned paths to iBGP peers.
func reflectExportPolicy() *api.Policy {
	return &api.Policy{Name: reflectPolicy, Statements: []*api.Statement{{
		Name:       reflectPolicy + "-ibgp",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_INTERNAL, NeighborSet: matchAny(ibgpNodeSet)},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
	}}}
}
