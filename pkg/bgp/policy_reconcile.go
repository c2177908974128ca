package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
)

// policyChanges is what a policy sync changed, and so which peers' routes
// must go through policy again.
type policyChanges struct {
	// in and out: peers whose received (import) or sent (export) routes
	// are affected.
	in, out map[netip.Addr]bool
	// allUpstreamIn, allUpstreamOut: every upstream peer is affected.
	allUpstreamIn, allUpstreamOut bool
	// allReflectedIn: the routes received from every peer with
	// AcceptReflected are affected.
	allReflectedIn bool
}

// actualPolicy is what GoBGP has of policy: every defined set with its
// members, the policy names, and the two global assignments. Apply lists it
// once per pass.
type actualPolicy struct {
	prefixSets   map[string][]*api.Prefix
	neighborSets map[string][]string
	policies     map[string]bool
	imports      assignment
	exports      assignment
}

// assignment is a global policy assignment: policy names in order and the
// default action.
type assignment struct {
	policies []string
	def      api.RouteAction
}

// listPolicy reads GoBGP's policy objects: five calls, whatever the number
// of peers.
func (s *Speaker) listPolicy(ctx context.Context) (actualPolicy, error) {
	var have actualPolicy
	var err error
	if have.prefixSets, err = s.listPrefixSets(ctx); err != nil {
		return have, err
	}
	if have.neighborSets, err = s.listNeighborSets(ctx); err != nil {
		return have, err
	}
	if have.policies, err = s.listPolicyNames(ctx); err != nil {
		return have, err
	}
	if have.imports, err = s.listAssignment(ctx, api.PolicyDirection_IMPORT); err != nil {
		return have, err
	}
	have.exports, err = s.listAssignment(ctx, api.PolicyDirection_EXPORT)
	return have, err
}

// desiredPolicy is the policy state for pol and peers (both normalized) and
// own, the paths to advertise, of which services are Service routes.
func (s *Speaker) desiredPolicy(pol Policy, peers []Peer, own []Path, services []netip.Prefix) policyState {
	prefixes := make([]netip.Prefix, 0, len(own))
	for _, p := range own {
		prefixes = append(prefixes, p.Prefix)
	}
	return desiredPolicyState(pol, peers, prefixes, services, s.cfg.ASN, s.cfg.RouteReflectorClusterID.IsValid())
}

// syncPolicy makes GoBGP's policy objects of ours (have, as listed) equal
// to want, and returns what it changed, also when it fails part way, so
// that what did change is still re-applied to routes. Defined sets are only
// ever changed member by member: replacing a set in GoBGP detaches it from
// the statements that refer to it. A changed policy is a new one (named
// after its content) swapped into the assignment at once, then the old one
// deleted.
//
// The own-prefix and Service sets only gain members here: a prefix leaves
// its set after its path is withdrawn (trimOwnPrefixes), so that the export
// policy never rejects the withdrawal of a path we announced, nor lets a
// Service route still announced reach a node peer.
func (s *Speaker) syncPolicy(ctx context.Context, want policyState, have actualPolicy) (policyChanges, error) {
	ch := policyChanges{in: map[netip.Addr]bool{}, out: map[netip.Addr]bool{}}
	for _, name := range sortedKeys(want.prefixSets) {
		own := name == ownPrefixSetV4 || name == ownPrefixSetV6 || name == serviceSetV4 || name == serviceSetV6
		changed, err := s.syncPrefixSet(ctx, name, want.prefixSets[name], have.prefixSets, own)
		if changed {
			ch.notePrefixSet(name)
		}
		if err != nil {
			return ch, err
		}
	}
	for _, name := range sortedKeys(want.neighborSets) {
		added, removed, err := s.syncNeighborSet(ctx, name, want.neighborSets[name], have.neighborSets)
		ch.noteNeighbors(name, append(added, removed...))
		if err != nil {
			return ch, err
		}
	}
	for _, p := range want.policies {
		if have.policies[p.Name] {
			continue
		}
		if err := s.gobgp.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
			return ch, fmt.Errorf("creating policy %s: %w", p.Name, err)
		}
	}
	changed, err := s.syncAssignment(ctx, api.PolicyDirection_IMPORT, assignment{want.imports, want.importAction}, have.imports)
	if err != nil {
		return ch, err
	}
	if changed {
		// A new or removed node policy comes with its sets (noted above);
		// what else changes an import assignment concerns upstream routes.
		ch.allUpstreamIn = true
	}
	changed, err = s.syncAssignment(ctx, api.PolicyDirection_EXPORT, assignment{want.exports, api.RouteAction_REJECT}, have.exports)
	if err != nil {
		return ch, err
	}
	if changed {
		ch.allUpstreamOut = true
	}
	return ch, s.deleteStalePolicy(ctx, want, have)
}

// notePrefixSet records whose routes a change of prefix set name affects.
func (c *policyChanges) notePrefixSet(name string) {
	switch {
	case name == clusterSetV4 || name == clusterSetV6 || name == upstreamPodSetV4 || name == upstreamPodSetV6:
		c.allUpstreamIn = true
	case name == reflectedPodSetV4 || name == reflectedPodSetV6:
		c.allReflectedIn = true
	case strings.HasPrefix(name, nodeSetPrefix):
		base := strings.TrimSuffix(strings.TrimSuffix(name, "-v4"), "-v6")
		if addr, err := netip.ParseAddr(strings.TrimPrefix(base, nodeSetPrefix)); err == nil {
			c.in[addr] = true
		}
	}
}

// noteNeighbors records whose routes adding or removing members of
// neighbor set name affects.
func (c *policyChanges) noteNeighbors(name string, members []string) {
	for _, m := range members {
		p, err := netip.ParsePrefix(m)
		if err != nil || p.Addr().IsUnspecified() {
			continue
		}
		switch {
		case name == upstreamSet:
			c.in[p.Addr()], c.out[p.Addr()] = true, true
		case name == ibgpNodeSet:
			c.out[p.Addr()] = true
		case strings.HasPrefix(name, nodeSetPrefix):
			c.in[p.Addr()] = true
		}
	}
}

// refilter runs the routes of the peers c names through policy again
// (GoBGP soft reset: no session is touched). peers are those GoBGP has
// after the peer step; others are not asked about.
func (s *Speaker) refilter(ctx context.Context, c policyChanges, peers []Peer) error {
	var errs []error
	for _, p := range peers {
		upstream := p.Kind == PeerUpstream
		in := c.in[p.Address] || (upstream && c.allUpstreamIn) || (p.AcceptReflected && c.allReflectedIn)
		out := c.out[p.Address] || (upstream && c.allUpstreamOut)
		dir := api.ResetPeerRequest_BOTH
		switch {
		case in && out:
		case in:
			dir = api.ResetPeerRequest_IN
		case out:
			dir = api.ResetPeerRequest_OUT
		default:
			continue
		}
		req := &api.ResetPeerRequest{Address: p.Address.String(), Soft: true, Direction: dir}
		if err := s.gobgp.ResetPeer(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("re-applying policy to routes of peer %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// syncPrefixSet makes prefix set name have exactly members; with addOnly,
// members besides them stay.
func (s *Speaker) syncPrefixSet(ctx context.Context, name string, members []*api.Prefix, have map[string][]*api.Prefix, addOnly bool) (bool, error) {
	cur, exists := have[name]
	if !exists {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: members}
		if err := s.gobgp.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return false, fmt.Errorf("creating prefix set %s: %w", name, err)
		}
		return true, nil
	}
	add, remove := memberDiff(members, cur, memberKey)
	if addOnly {
		remove = nil
	}
	if len(add) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: add}
		if err := s.gobgp.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return false, fmt.Errorf("adding %d prefixes to set %s: %w", len(add), name, err)
		}
	}
	if len(remove) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: remove}
		if err := s.gobgp.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return true, fmt.Errorf("removing %d prefixes from set %s: %w", len(remove), name, err)
		}
	}
	return len(add)+len(remove) > 0, nil
}

// syncNeighborSet makes neighbor set name have exactly members and returns
// the members it added and removed.
func (s *Speaker) syncNeighborSet(ctx context.Context, name string, members []string, have map[string][]string) (added, removed []string, err error) {
	cur, exists := have[name]
	if !exists {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: members}
		if err := s.gobgp.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return nil, nil, fmt.Errorf("creating neighbor set %s: %w", name, err)
		}
		return members, nil, nil
	}
	add, remove := memberDiff(members, cur, func(m string) string { return m })
	if len(add) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: add}
		if err := s.gobgp.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return nil, nil, fmt.Errorf("adding %v to neighbor set %s: %w", add, name, err)
		}
	}
	if len(remove) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: remove}
		if err := s.gobgp.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return add, nil, fmt.Errorf("removing %v from neighbor set %s: %w", remove, name, err)
		}
	}
	return add, remove, nil
}

// listAssignment reads the global assignment of direction dir.
func (s *Speaker) listAssignment(ctx context.Context, dir api.PolicyDirection) (assignment, error) {
	cur := assignment{def: api.RouteAction_NONE}
	req := &api.ListPolicyAssignmentRequest{Name: globalAssignment, Direction: dir}
	err := s.gobgp.ListPolicyAssignment(ctx, req, func(a *api.PolicyAssignment) {
		cur.def = a.GetDefaultAction()
		for _, p := range a.GetPolicies() {
			cur.policies = append(cur.policies, p.GetName())
		}
	})
	if err != nil {
		return cur, fmt.Errorf("listing %s policy assignment: %w", dir, err)
	}
	return cur, nil
}

// syncAssignment makes the global assignment of direction dir (cur, as
// listed) want, in one call.
func (s *Speaker) syncAssignment(ctx context.Context, dir api.PolicyDirection, want, cur assignment) (bool, error) {
	if slices.Equal(cur.policies, want.policies) && cur.def == want.def {
		return false, nil
	}
	asg := &api.PolicyAssignment{Name: globalAssignment, Direction: dir, DefaultAction: want.def}
	for _, p := range want.policies {
		asg.Policies = append(asg.Policies, &api.Policy{Name: p})
	}
	if err := s.gobgp.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: asg}); err != nil {
		return false, fmt.Errorf("assigning %s policies %v: %w", dir, want.policies, err)
	}
	return true, nil
}

// deleteStalePolicy deletes our policies and defined sets that the desired
// state no longer has (after the assignments stopped using them).
func (s *Speaker) deleteStalePolicy(ctx context.Context, want policyState, have actualPolicy) error {
	wanted := make(map[string]bool, len(want.policies))
	for _, p := range want.policies {
		wanted[p.Name] = true
	}
	var errs []error
	for _, name := range sortedKeys(have.policies) {
		if wanted[name] || !strings.HasPrefix(name, ownedPrefix) {
			continue
		}
		req := &api.DeletePolicyRequest{Policy: &api.Policy{Name: name}, All: true}
		if err := s.gobgp.DeletePolicy(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("deleting policy %s: %w", name, err))
		}
	}
	del := func(typ api.DefinedType, name string) {
		req := &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: typ, Name: name}, All: true}
		if err := s.gobgp.DeleteDefinedSet(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("deleting defined set %s: %w", name, err))
		}
	}
	for _, name := range sortedKeys(have.prefixSets) {
		if _, ok := want.prefixSets[name]; !ok && strings.HasPrefix(name, ownedPrefix) {
			del(api.DefinedType_PREFIX, name)
		}
	}
	for _, name := range sortedKeys(have.neighborSets) {
		if _, ok := want.neighborSets[name]; !ok && strings.HasPrefix(name, ownedPrefix) {
			del(api.DefinedType_NEIGHBOR, name)
		}
	}
	return errors.Join(errs...)
}

func (s *Speaker) listPrefixSets(ctx context.Context) (map[string][]*api.Prefix, error) {
	out := map[string][]*api.Prefix{}
	req := &api.ListDefinedSetRequest{DefinedType: api.DefinedType_PREFIX}
	err := s.gobgp.ListDefinedSet(ctx, req, func(ds *api.DefinedSet) {
		out[ds.GetName()] = append(out[ds.GetName()], ds.GetPrefixes()...)
	})
	if err != nil {
		return nil, fmt.Errorf("listing prefix sets: %w", err)
	}
	return out, nil
}

func (s *Speaker) listNeighborSets(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	req := &api.ListDefinedSetRequest{DefinedType: api.DefinedType_NEIGHBOR}
	err := s.gobgp.ListDefinedSet(ctx, req, func(ds *api.DefinedSet) {
		out[ds.GetName()] = append(out[ds.GetName()], ds.GetList()...)
	})
	if err != nil {
		return nil, fmt.Errorf("listing neighbor sets: %w", err)
	}
	return out, nil
}

func (s *Speaker) listPolicyNames(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.gobgp.ListPolicy(ctx, &api.ListPolicyRequest{}, func(p *api.Policy) { out[p.GetName()] = true })
	if err != nil {
		return nil, fmt.Errorf("listing policies: %w", err)
	}
	return out, nil
}

// memberDiff compares desired set members with actual ones by key.
func memberDiff[T any](desired, actual []T, key func(T) string) (add, remove []T) {
	want := make(map[string]bool, len(desired))
	for _, m := range desired {
		want[key(m)] = true
	}
	have := make(map[string]bool, len(actual))
	for _, m := range actual {
		k := key(m)
		if !want[k] {
			remove = append(remove, m)
		}
		have[k] = true
	}
	for _, m := range desired {
		if k := key(m); !have[k] {
			have[k] = true
			add = append(add, m)
		}
	}
	return add, remove
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
