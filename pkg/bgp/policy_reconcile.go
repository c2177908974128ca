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

// SetPolicy replaces the operator's routing policy (see Policy) and
// re-evaluates the affected routes without resetting any session: routes
// from upstream peers again through import (GoBGP keeps what they sent
// before policy), our own to upstream peers again through export. An
// invalid Policy is refused as a whole, naming each bad field, and the
// previous one stays. Until the first call, nothing is taken from upstream
// peers. Calling it again with the same Policy changes nothing.
func (s *Speaker) SetPolicy(ctx context.Context, pol Policy) error {
	s.reconcile.Lock()
	defer s.reconcile.Unlock()
	norm, err := pol.normalize()
	if err != nil {
		return fmt.Errorf("BGP policy: %w", err)
	}
	changes, err := s.syncPolicy(ctx, norm, s.desired)
	if err != nil {
		return err
	}
	s.policy = norm
	if changes.any() {
		s.log.Info("BGP policy applied", "event", "policy", "cluster_cidrs", fmt.Sprint(norm.ClusterCIDRs),
			"accept_upstream_routes", norm.AcceptUpstreamRoutes, "communities", fmt.Sprint(norm.Communities),
			"large_communities", fmt.Sprint(norm.LargeCommunities), "prepend", norm.PrependCount)
	}
	return s.refilter(ctx, changes, s.desired)
}

// policyChanges is what a policy sync changed, and so which peers' routes
// must go through policy again.
type policyChanges struct {
	ops int // GoBGP calls that changed something
	// in and out: peers whose received (import) or sent (export) routes
	// are affected.
	in, out map[netip.Addr]bool
	// allUpstreamIn, allUpstreamOut: every upstream peer is affected.
	allUpstreamIn, allUpstreamOut bool
}

func (c policyChanges) any() bool { return c.ops > 0 }

// syncPolicy makes GoBGP's policy objects of ours equal to the desired
// state for pol and peers. Defined sets are only ever changed member by
// member: replacing a set in GoBGP detaches it from the statements that
// refer to it. A changed policy is a new one (named after its content)
// swapped into the assignment at once, then the old one deleted.
func (s *Speaker) syncPolicy(ctx context.Context, pol Policy, peers []Peer) (policyChanges, error) {
	want := desiredPolicyState(pol, peers, s.cfg.ASN, s.cfg.RouteReflectorClusterID.IsValid())
	ch := policyChanges{in: map[netip.Addr]bool{}, out: map[netip.Addr]bool{}}

	havePrefix, err := s.listPrefixSets(ctx)
	if err != nil {
		return ch, err
	}
	haveNeighbor, err := s.listNeighborSets(ctx)
	if err != nil {
		return ch, err
	}
	for _, name := range sortedKeys(want.prefixSets) {
		changed, err := s.syncPrefixSet(ctx, name, want.prefixSets[name], havePrefix)
		if err != nil {
			return ch, err
		}
		if changed {
			ch.ops++
			ch.notePrefixSet(name)
		}
	}
	for _, name := range sortedKeys(want.neighborSets) {
		added, removed, err := s.syncNeighborSet(ctx, name, want.neighborSets[name], haveNeighbor)
		if err != nil {
			return ch, err
		}
		ch.ops += len(added) + len(removed)
		ch.noteNeighbors(name, append(added, removed...))
	}

	havePolicies, err := s.listPolicyNames(ctx)
	if err != nil {
		return ch, err
	}
	for _, p := range want.policies {
		if havePolicies[p.Name] {
			continue
		}
		if err := s.server.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
			return ch, fmt.Errorf("creating policy %s: %w", p.Name, err)
		}
		ch.ops++
	}
	changed, err := s.syncAssignment(ctx, api.PolicyDirection_IMPORT, want.imports, want.importAction)
	if err != nil {
		return ch, err
	}
	if changed {
		ch.ops++
		// A new or removed node policy comes with its sets (noted above);
		// what else changes an import assignment concerns upstream routes.
		ch.allUpstreamIn = true
	}
	changed, err = s.syncAssignment(ctx, api.PolicyDirection_EXPORT, want.exports, api.RouteAction_REJECT)
	if err != nil {
		return ch, err
	}
	if changed {
		ch.ops++
		ch.allUpstreamOut = true
	}
	n, err := s.deleteStalePolicy(ctx, want, havePolicies, havePrefix, haveNeighbor)
	ch.ops += n
	return ch, err
}

// notePrefixSet records whose routes a change of prefix set name affects.
func (c *policyChanges) notePrefixSet(name string) {
	switch {
	case name == clusterSetV4 || name == clusterSetV6 || name == upstreamPodSetV4 || name == upstreamPodSetV6:
		c.allUpstreamIn = true
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

// refilter runs the routes of the peers changes names through policy again
// (GoBGP soft reset: no session is touched). peers are the desired peers;
// others are not asked about.
func (s *Speaker) refilter(ctx context.Context, c policyChanges, peers []Peer) error {
	var errs []error
	for _, p := range peers {
		upstream := p.Kind == PeerUpstream
		in := c.in[p.Address] || (upstream && c.allUpstreamIn)
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
		if err := s.server.ResetPeer(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("re-applying policy to routes of peer %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// syncPrefixSet makes prefix set name have exactly members (the own-prefix
// sets only have to exist: SetAdvertised fills them).
func (s *Speaker) syncPrefixSet(ctx context.Context, name string, members []*api.Prefix, have map[string][]*api.Prefix) (bool, error) {
	cur, exists := have[name]
	if !exists {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: members}
		if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return false, fmt.Errorf("creating prefix set %s: %w", name, err)
		}
		return true, nil
	}
	if name == ownPrefixSetV4 || name == ownPrefixSetV6 {
		return false, nil
	}
	add, remove := memberDiff(members, cur, memberKey)
	if len(add) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: add}
		if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return false, fmt.Errorf("adding %d prefixes to set %s: %w", len(add), name, err)
		}
	}
	if len(remove) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: remove}
		if err := s.server.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return false, fmt.Errorf("removing %d prefixes from set %s: %w", len(remove), name, err)
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
		if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return nil, nil, fmt.Errorf("creating neighbor set %s: %w", name, err)
		}
		return members, nil, nil
	}
	add, remove := memberDiff(members, cur, func(m string) string { return m })
	if len(add) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: add}
		if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
			return nil, nil, fmt.Errorf("adding %v to neighbor set %s: %w", add, name, err)
		}
	}
	if len(remove) > 0 {
		ds := &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: remove}
		if err := s.server.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
			return add, nil, fmt.Errorf("removing %v from neighbor set %s: %w", remove, name, err)
		}
	}
	return add, remove, nil
}

// syncAssignment makes the global assignment of direction dir exactly
// policies, in order, with default action def, in one call.
func (s *Speaker) syncAssignment(ctx context.Context, dir api.PolicyDirection, policies []string, def api.RouteAction) (bool, error) {
	var cur []string
	curDef := api.RouteAction_NONE
	req := &api.ListPolicyAssignmentRequest{Name: globalAssignment, Direction: dir}
	err := s.server.ListPolicyAssignment(ctx, req, func(a *api.PolicyAssignment) {
		curDef = a.GetDefaultAction()
		for _, p := range a.GetPolicies() {
			cur = append(cur, p.GetName())
		}
	})
	if err != nil {
		return false, fmt.Errorf("listing %s policy assignment: %w", dir, err)
	}
	if slices.Equal(cur, policies) && curDef == def {
		return false, nil
	}
	asg := &api.PolicyAssignment{Name: globalAssignment, Direction: dir, DefaultAction: def}
	for _, p := range policies {
		asg.Policies = append(asg.Policies, &api.Policy{Name: p})
	}
	if err := s.server.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: asg}); err != nil {
		return false, fmt.Errorf("assigning %s policies %v: %w", dir, policies, err)
	}
	return true, nil
}

// deleteStalePolicy deletes our policies and defined sets that the desired
// state no longer has (after the assignments stopped using them), and
// returns how many it deleted.
func (s *Speaker) deleteStalePolicy(ctx context.Context, want policyState, policies map[string]bool, prefixSets map[string][]*api.Prefix, neighborSets map[string][]string) (int, error) {
	wanted := make(map[string]bool, len(want.policies))
	for _, p := range want.policies {
		wanted[p.Name] = true
	}
	var errs []error
	n := 0
	for _, name := range sortedKeys(policies) {
		if wanted[name] || !strings.HasPrefix(name, ownedPrefix) {
			continue
		}
		req := &api.DeletePolicyRequest{Policy: &api.Policy{Name: name}, All: true}
		if err := s.server.DeletePolicy(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("deleting policy %s: %w", name, err))
			continue
		}
		n++
	}
	del := func(typ api.DefinedType, name string) {
		req := &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: typ, Name: name}, All: true}
		if err := s.server.DeleteDefinedSet(ctx, req); err != nil {
			errs = append(errs, fmt.Errorf("deleting defined set %s: %w", name, err))
			return
		}
		n++
	}
	for _, name := range sortedKeys(prefixSets) {
		if _, ok := want.prefixSets[name]; !ok && strings.HasPrefix(name, ownedPrefix) {
			del(api.DefinedType_PREFIX, name)
		}
	}
	for _, name := range sortedKeys(neighborSets) {
		if _, ok := want.neighborSets[name]; !ok && strings.HasPrefix(name, ownedPrefix) {
			del(api.DefinedType_NEIGHBOR, name)
		}
	}
	return n, errors.Join(errs...)
}

func (s *Speaker) listPrefixSets(ctx context.Context) (map[string][]*api.Prefix, error) {
	out := map[string][]*api.Prefix{}
	req := &api.ListDefinedSetRequest{DefinedType: api.DefinedType_PREFIX}
	err := s.server.ListDefinedSet(ctx, req, func(ds *api.DefinedSet) {
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
	err := s.server.ListDefinedSet(ctx, req, func(ds *api.DefinedSet) {
		out[ds.GetName()] = append(out[ds.GetName()], ds.GetList()...)
	})
	if err != nil {
		return nil, fmt.Errorf("listing neighbor sets: %w", err)
	}
	return out, nil
}

func (s *Speaker) listPolicyNames(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.server.ListPolicy(ctx, &api.ListPolicyRequest{}, func(p *api.Policy) { out[p.GetName()] = true })
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
