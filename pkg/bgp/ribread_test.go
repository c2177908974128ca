package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/anypb"
)

// Reading GoBGP's RIB in its API form, as the gobgp CLI does: what tests
// check the agent's own readers (BestPaths, listLocalPaths) and its paths
// (apiPath) against.

// allFamilies are the tables this package reads and writes.
var allFamilies = []*api.Family{familyIPv4, familyIPv6}

// pathFromAPI reads prefix and next hop out of a GoBGP path. It never
// panics on unexpected content; errors name the path as far as it could be
// decoded.
func pathFromAPI(p *api.Path) (Path, error) {
	if p == nil {
		return Path{}, errors.New("nil path")
	}
	name := fmt.Sprintf("%s path from %q", familyName(p.GetFamily()), p.GetNeighborIp())
	prefix, err := prefixFromNLRI(p.GetNlri())
	if err != nil {
		return Path{}, fmt.Errorf("%s: nlri: %w", name, err)
	}
	name = fmt.Sprintf("path %s from %q", prefix, p.GetNeighborIp())
	nh, err := nextHopFromAttrs(p.GetPattrs())
	if err != nil {
		return Path{}, fmt.Errorf("%s: next hop: %w", name, err)
	}
	return Path{Prefix: prefix, NextHop: nh}, nil
}

func prefixFromNLRI(a *anypb.Any) (netip.Prefix, error) {
	if a == nil {
		return netip.Prefix{}, errors.New("missing")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return netip.Prefix{}, err
	}
	ip, ok := m.(*api.IPAddressPrefix)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%s is not a unicast prefix", a.GetTypeUrl())
	}
	addr, err := netip.ParseAddr(ip.GetPrefix())
	if err != nil {
		return netip.Prefix{}, err
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zoned prefix address %s", addr)
	}
	addr = addr.Unmap()
	if ip.GetPrefixLen() > uint32(addr.BitLen()) {
		return netip.Prefix{}, fmt.Errorf("prefix length %d exceeds %d bits of %s", ip.GetPrefixLen(), addr.BitLen(), addr)
	}
	return netip.PrefixFrom(addr, int(ip.GetPrefixLen())).Masked(), nil
}

// nextHopFromAttrs takes the next hop from NEXT_HOP, or else the first of
// MP_REACH_NLRI (for IPv6 the global address comes first, RFC 2545).
func nextHopFromAttrs(attrs []*anypb.Any) (netip.Addr, error) {
	var raw string
	found := false
	for _, a := range attrs {
		if a == nil {
			continue
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			// An attribute type this build does not know cannot be a next hop.
			continue
		}
		switch attr := m.(type) {
		case *api.NextHopAttribute:
			raw, found = attr.GetNextHop(), true
		case *api.MpReachNLRIAttribute:
			if len(attr.GetNextHops()) > 0 && !found {
				raw, found = attr.GetNextHops()[0], true
			}
		}
	}
	if !found {
		return netip.Addr{}, errors.New("missing")
	}
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return netip.Addr{}, err
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zoned next hop %s", addr)
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("unspecified next hop %s", addr)
	}
	return addr, nil
}

// learnedFromPeer tells a path received from a neighbor from one this
// speaker originated: GoBGP leaves the neighbor address of local paths
// empty (or "<nil>").
func learnedFromPeer(p *api.Path) bool {
	_, err := netip.ParseAddr(p.GetNeighborIp())
	return err == nil
}

// localPaths returns the paths this speaker originated, converted.
func localPaths(dsts []*api.Destination) ([]Path, []error) {
	return convertPaths(dsts, func(paths []*api.Path) []*api.Path {
		var local []*api.Path
		for _, p := range paths {
			if !p.GetIsWithdraw() && !learnedFromPeer(p) {
				local = append(local, p)
			}
		}
		return local
	})
}

// convertPaths converts the paths pick selects of each destination, sorted
// (repeats kept: a local path GoBGP holds twice must be seen twice); a path that cannot be converted is skipped and
// reported, never allowed to hide the others.
func convertPaths(dsts []*api.Destination, pick func([]*api.Path) []*api.Path) ([]Path, []error) {
	var out []Path
	var errs []error
	for _, d := range dsts {
		for _, p := range pick(d.GetPaths()) {
			path, err := pathFromAPI(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, path)
		}
	}
	slices.SortFunc(out, comparePaths)
	return out, errs
}

// listGlobal returns every destination of the global RIB in our families,
// in GoBGP's API form, as `gobgp global rib` sees it.
func (s *Speaker) listGlobal(ctx context.Context) ([]*api.Destination, error) {
	var dsts []*api.Destination
	err := s.eachDestination(ctx, func(d *api.Destination) { dsts = append(dsts, d) })
	return dsts, err
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
