package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/anypb"
)

// originIGP is the ORIGIN attribute of the routes we originate: they are
// the node's own, not redistributed from elsewhere.
const originIGP = 0

// Path is a unicast route: a prefix and the next hop to reach it.
type Path struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

func (p Path) String() string { return fmt.Sprintf("%s via %s", p.Prefix, p.NextHop) }

func comparePaths(a, b Path) int {
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()); c != 0 {
		return c
	}
	return a.NextHop.Compare(b.NextHop)
}

// apiPath renders p as a GoBGP path to originate: origin IGP, next hop in
// NEXT_HOP for IPv4 and in MP_REACH_NLRI for IPv6 (RFC 4760).
func apiPath(p Path) (*api.Path, error) {
	fam := familyOf(p.Prefix.Addr())
	nlri, err := anypb.New(&api.IPAddressPrefix{
		Prefix:    p.Prefix.Addr().String(),
		PrefixLen: uint32(p.Prefix.Bits()),
	})
	if err != nil {
		return nil, fmt.Errorf("path %s: nlri: %w", p, err)
	}
	origin, err := anypb.New(&api.OriginAttribute{Origin: originIGP})
	if err != nil {
		return nil, fmt.Errorf("path %s: origin: %w", p, err)
	}
	var nh *anypb.Any
	if p.Prefix.Addr().Is4() && p.NextHop.Is4() {
		nh, err = anypb.New(&api.NextHopAttribute{NextHop: p.NextHop.String()})
	} else {
		nh, err = anypb.New(&api.MpReachNLRIAttribute{
			Family:   fam,
			NextHops: []string{p.NextHop.String()},
			Nlris:    []*anypb.Any{nlri},
		})
	}
	if err != nil {
		return nil, fmt.Errorf("path %s: next hop: %w", p, err)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}, nil
}

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

// bestLearned picks the paths of each destination that carry its traffic
// (see multipaths): several, with different next hops, when peers announce
// a prefix equally well. Paths that cannot be converted are skipped and
// reported; withdrawals and paths GoBGP marks as having an unusable next
// hop are not routes. The result is sorted, without repeats.
func bestLearned(dsts []*api.Destination, localASN uint32) ([]Path, []error) {
	out, errs := convertPaths(dsts, func(paths []*api.Path) []*api.Path { return multipaths(paths, localASN) })
	return slices.Compact(out), errs
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
