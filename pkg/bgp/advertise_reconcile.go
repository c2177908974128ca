package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// advertise is Apply's last step: it makes the paths this speaker
// originates exactly want (from desiredPaths), each prefix with its next hop
// (the node IP of the prefix's family, so a dual-stack node announces its
// IPv4 pod CIDR via its IPv4 address and its IPv6 pod CIDR via its IPv6
// address). Every locally originated path is ours to reconcile, including
// any added by hand with the gobgp CLI.
//
// The policy step has already put every prefix of want into the own-prefix
// sets, and those of services into the Service sets, whose members are now
// own (by set name): a prefix joins its set before its path exists. It
// leaves only after its path is gone, here after the withdrawals, so the
// export policy never rejects a path we announce, nor its withdrawal, and
// never lets a Service route still announced reach a node peer.
func (s *Speaker) advertise(ctx context.Context, want []Path, services []netip.Prefix, own map[string][]*api.Prefix) error {
	have, err := s.listLocalPaths(ctx)
	if err != nil {
		return err
	}
	add, withdraw := advertiseDiff(want, have)
	var errs []error
	for _, p := range add {
		if err := s.addPath(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("advertising prefix", "event", "advertise", "prefix", p.Prefix, "nexthop", p.NextHop)
	}
	// A path that could not be withdrawn keeps its prefix in its sets.
	keep := slices.Clone(want)
	keepServices := slices.Clone(services)
	for _, p := range withdraw {
		if err := s.deletePath(ctx, p); err != nil {
			errs = append(errs, err)
			keep = append(keep, p)
			keepServices = append(keepServices, p.Prefix)
			continue
		}
		s.log.Info("withdrawing prefix", "event", "withdraw", "prefix", p.Prefix, "nexthop", p.NextHop)
	}
	for _, v4 := range []bool{true, false} {
		errs = append(errs, s.trimSet(ctx, ownPrefixSetName(v4), prefixesOf(keep, v4), own[ownPrefixSetName(v4)]))
		// A failed withdrawal keeps a prefix in the Service set only if it
		// was a member: trimSet removes, it never adds.
		errs = append(errs, s.trimSet(ctx, serviceSetName(v4), prefixesOfFamily(keepServices, v4), own[serviceSetName(v4)]))
	}
	return errors.Join(errs...)
}

// trimSet removes from prefix set name (members as listed) every member that
// is not exactly one of keep.
func (s *Speaker) trimSet(ctx context.Context, name string, keep []netip.Prefix, members []*api.Prefix) error {
	_, remove := prefixSetDiff(keep, members)
	if len(remove) == 0 {
		return nil
	}
	ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: remove}
	if err := s.gobgp.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds}); err != nil {
		return fmt.Errorf("removing %d prefixes from set %s: %w", len(remove), name, err)
	}
	return nil
}

func (s *Speaker) addPath(ctx context.Context, p Path) error {
	ap, err := apiPath(p)
	if err != nil {
		return err
	}
	if _, err := s.gobgp.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: ap}); err != nil {
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
	if err := s.gobgp.DeletePath(ctx, req); err != nil {
		return fmt.Errorf("withdrawing %s: %w", p, err)
	}
	return nil
}

// listLocalPaths returns the paths this speaker originates, in both
// families, sorted (a path GoBGP holds twice is there twice). A local path
// without a next hop is logged and left alone.
//
// The global RIB holds every learned path too (100,000 from a ToR with a
// big table), and Apply runs on every node pass. So the RIB is walked in
// place (ListLocalPaths, third_party/gobgp-patches/009): GoBGP copies no
// table and converts nothing but the local paths.
func (s *Speaker) listLocalPaths(ctx context.Context) ([]Path, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing local paths: %w", err)
	}
	var out []Path
	err := s.gobgp.ListLocalPaths(func(paths []server.BestPath) {
		for _, p := range paths {
			if !p.NextHop.IsValid() {
				s.log.Warn("ignoring unreadable local path", "event", "path-ignored", "reason", fmt.Sprintf("path %s: no next hop", p.Prefix))
				continue
			}
			out = append(out, Path{Prefix: p.Prefix, NextHop: p.NextHop})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing local paths: %w", err)
	}
	slices.SortFunc(out, comparePaths)
	return out, nil
}
