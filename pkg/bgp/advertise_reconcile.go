package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
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
// families. A local path that cannot be read is logged and left alone.
//
// The global RIB holds every learned path too (100,000 from a ToR with a
// big table), and Apply runs on every node pass. So the RIB is first scanned
// with GoBGP's binary-only encoding, which skips the protobuf attributes,
// for the prefixes that have a local path; only those destinations are then
// listed in full and decoded.
func (s *Speaker) listLocalPaths(ctx context.Context) ([]Path, error) {
	var dsts []*api.Destination
	for _, f := range allFamilies {
		var prefixes []*api.TableLookupPrefix
		scan := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f, EnableOnlyBinary: true}
		err := s.gobgp.ListPath(ctx, scan, func(d *api.Destination) {
			for _, p := range d.GetPaths() {
				if !p.GetIsWithdraw() && !learnedFromPeer(p) {
					prefixes = append(prefixes, &api.TableLookupPrefix{Prefix: d.GetPrefix()})
					return
				}
			}
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s paths: %w", familyName(f), err)
		}
		if len(prefixes) == 0 {
			continue
		}
		req := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f, Prefixes: prefixes}
		if err := s.gobgp.ListPath(ctx, req, func(d *api.Destination) { dsts = append(dsts, d) }); err != nil {
			return nil, fmt.Errorf("listing %s local paths: %w", familyName(f), err)
		}
	}
	paths, errs := localPaths(dsts)
	for _, err := range errs {
		s.log.Warn("ignoring unreadable local path", "event", "path-ignored", "reason", err.Error())
	}
	return paths, nil
}

// listGlobal returns every destination of the global RIB in our families.
// It holds the whole RIB as protobuf (about 1.5 KB a path): tests only; the
// agent's readers stream with eachDestination.
func (s *Speaker) listGlobal(ctx context.Context) ([]*api.Destination, error) {
	var dsts []*api.Destination
	err := s.eachDestination(ctx, func(d *api.Destination) { dsts = append(dsts, d) })
	return dsts, err
}

// eachBinaryDestination is eachDestination with the NLRI and path
// attributes in BGP wire form only (NlriBinary, PattrsBinary).
func (s *Speaker) eachBinaryDestination(ctx context.Context, fn func(*api.Destination)) error {
	for _, f := range allFamilies {
		req := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f, EnableOnlyBinary: true}
		if err := s.gobgp.ListPath(ctx, req, fn); err != nil {
			return fmt.Errorf("listing %s paths: %w", familyName(f), err)
		}
	}
	return nil
}

// eachDestination streams the global RIB of both families to fn, one
// destination at a time, so that no reader holds the whole RIB in GoBGP's
// API form.
func (s *Speaker) eachDestination(ctx context.Context, fn func(*api.Destination)) error {
	for _, f := range allFamilies {
		req := &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f}
		if err := s.gobgp.ListPath(ctx, req, fn); err != nil {
			return fmt.Errorf("listing %s paths: %w", familyName(f), err)
		}
	}
	return nil
}
