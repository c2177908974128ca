package bgp

import (
	"cmp"
	"fmt"
	"net/netip"

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
