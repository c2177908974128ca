package bgp

import (
	"context"
	"errors"
	"fmt"

	api "github.com/osrg/gobgp/v3/api"
)

// SetAdvertised makes the paths this speaker originates exactly paths: each
// prefix with its next hop (the node IP of the prefix's family, so a
// dual-stack node announces its IPv4 pod CIDR via its IPv4 address and its
// IPv6 pod CIDR via its IPv6 address). It keeps the export policy's
// own-prefix sets equal to them. Every locally originated path is ours to
// reconcile, including any added by hand with the gobgp CLI. Invalid paths
// are skipped and reported in the error; the others are still applied.
// Calling it again with the same argument changes nothing.
func (s *Speaker) SetAdvertised(ctx context.Context, paths []Path) error {
	s.reconcile.Lock()
	defer s.reconcile.Unlock()

	want, invalid := desiredPaths(paths)
	have, err := s.listLocalPaths(ctx)
	if err != nil {
		return errors.Join(invalid, err)
	}
	add, withdraw := advertiseDiff(want, have)
	errs := []error{invalid}

	// Order matters: a prefix joins its set before its path exists, and
	// leaves it after its path is gone, so the export policy never rejects a
	// path we announce, nor its withdrawal.
	if err := s.addOwnPrefixes(ctx, want); err != nil {
		// Without the set entry the path would not be exported: stop here.
		return errors.Join(append(errs, err)...)
	}
	for _, p := range add {
		if err := s.addPath(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("advertising prefix", "event", "advertise", "prefix", p.Prefix, "nexthop", p.NextHop)
	}
	for _, p := range withdraw {
		if err := s.deletePath(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("withdrawing prefix", "event", "withdraw", "prefix", p.Prefix, "nexthop", p.NextHop)
	}
	if err := s.removeOwnPrefixes(ctx, want); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Speaker) addPath(ctx context.Context, p Path) error {
	ap, err := apiPath(p)
	if err != nil {
		return err
	}
	if _, err := s.server.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: ap}); err != nil {
		return fmt.Errorf("advertising %s: %w", p, err)
	}
	return nil
}

func (s *Speaker) deletePath(ctx context.Context, p Path) error {
	ap, err := apiPath(p)
	if err != nil {
		return err
	}
	req := &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ap.Family, Path: ap}
	if err := s.server.DeletePath(ctx, req); err != nil {
		return fmt.Errorf("withdrawing %s: %w", p, err)
	}
	return nil
}

// listLocalPaths returns the paths this speaker originates, in both
// families. A local path that cannot be read is logged and left alone.
func (s *Speaker) listLocalPaths(ctx context.Context) ([]Path, error) {
	dsts, err := s.listGlobal(ctx)
	if err != nil {
		return nil, err
	}
	paths, errs := localPaths(dsts)
	for _, err := range errs {
		s.log.Warn("ignoring unreadable local path", "event", "path-ignored", "reason", err.Error())
	}
	return paths, nil
}

// listGlobal returns every destination of the global RIB in our families.
func (s *Speaker) listGlobal(ctx context.Context) ([]*api.Destination, error) {
	var dsts []*api.Destination
	for _, f := range allFamilies {
		req := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f}
		if err := s.server.ListPath(ctx, req, func(d *api.Destination) { dsts = append(dsts, d) }); err != nil {
			return nil, fmt.Errorf("listing %s paths: %w", familyName(f), err)
		}
	}
	return dsts, nil
}

// addOwnPrefixes adds the prefixes of want missing from the own-prefix sets.
func (s *Speaker) addOwnPrefixes(ctx context.Context, want []Path) error {
	return s.updateOwnPrefixes(ctx, want, true)
}

// removeOwnPrefixes removes the members of the own-prefix sets not in want.
func (s *Speaker) removeOwnPrefixes(ctx context.Context, want []Path) error {
	return s.updateOwnPrefixes(ctx, want, false)
}

func (s *Speaker) updateOwnPrefixes(ctx context.Context, want []Path, adding bool) error {
	var errs []error
	for _, v4 := range []bool{true, false} {
		set := ownPrefixSetName(v4)
		members, err := s.prefixSetMembers(ctx, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add, remove := prefixSetDiff(prefixesOf(want, v4), members)
		switch {
		case adding && len(add) > 0:
			ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: set, Prefixes: add}
			if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds}); err != nil {
				errs = append(errs, fmt.Errorf("adding %d prefixes to set %s: %w", len(add), set, err))
			}
		case !adding && len(remove) > 0:
			ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: set, Prefixes: remove}
			if err := s.server.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
				errs = append(errs, fmt.Errorf("removing %d prefixes from set %s: %w", len(remove), set, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Speaker) prefixSetMembers(ctx context.Context, set string) ([]*api.Prefix, error) {
	var members []*api.Prefix
	req := &api.ListDefinedSetRequest{DefinedType: api.DefinedType_PREFIX, Name: set}
	err := s.server.ListDefinedSet(ctx, req, func(ds *api.DefinedSet) {
		if ds.GetName() == set {
			members = append(members, ds.GetPrefixes()...)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing prefix set %s: %w", set, err)
	}
	return members, nil
}
