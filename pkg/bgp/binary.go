package bgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The full pass reads the RIB with GoBGP's binary-only encoding
// (ListPathRequest.EnableOnlyBinary): the NLRI and each path attribute as
// their BGP wire bytes instead of protobuf Any messages. At 100,000 paths
// that saves GoBGP marshalling and us unmarshalling about 300,000 Any
// messages per pass. Only what the route needs is read: the prefix, the next
// hop, and the attributes that decide multipath (multipathKey).

// BGP path attribute type codes (RFC 4271, RFC 4760).
const (
	attrOrigin    = 1
	attrASPath    = 2
	attrNextHop   = 3
	attrMED       = 4
	attrLocalPref = 5
	attrMPReach   = 14
)

// wireAttr splits one serialized path attribute into its type and value.
func wireAttr(b []byte) (typ uint8, value []byte, err error) {
	if len(b) < 3 {
		return 0, nil, errors.New("attribute too short")
	}
	flags, typ := b[0], b[1]
	n, hdr := int(b[2]), 3
	if bgp.BGPAttrFlag(flags)&bgp.BGP_ATTR_FLAG_EXTENDED_LENGTH != 0 {
		if len(b) < 4 {
			return 0, nil, errors.New("attribute too short")
		}
		n, hdr = int(binary.BigEndian.Uint16(b[2:4])), 4
	}
	if len(b) < hdr+n {
		return 0, nil, fmt.Errorf("attribute %d: %d bytes, header says %d", typ, len(b)-hdr, n)
	}
	return typ, b[hdr : hdr+n], nil
}

// prefixFromWire reads a unicast NLRI: a length in bits, then the prefix's
// significant bytes.
func prefixFromWire(b []byte, v4 bool) (netip.Prefix, error) {
	if len(b) < 1 {
		return netip.Prefix{}, errors.New("nlri: empty")
	}
	bits, size := int(b[0]), 16
	if v4 {
		size = 4
	}
	if bits > size*8 || len(b) < 1+(bits+7)/8 {
		return netip.Prefix{}, fmt.Errorf("nlri: %d bits in %d bytes", bits, len(b)-1)
	}
	var raw [16]byte
	copy(raw[:size], b[1:1+(bits+7)/8])
	addr := netip.AddrFrom16(raw)
	if v4 {
		addr = netip.AddrFrom4([4]byte(raw[:4]))
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// pathFromBinary is pathFromAPI for a binary-only path.
func pathFromBinary(p *api.Path) (Path, error) {
	v4 := p.GetFamily().GetAfi() == api.Family_AFI_IP
	prefix, err := prefixFromWire(p.GetNlriBinary(), v4)
	if err != nil {
		return Path{}, fmt.Errorf("%s path from %q: %w", familyName(p.GetFamily()), p.GetNeighborIp(), err)
	}
	var nh netip.Addr
	found := false
	for _, a := range p.GetPattrsBinary() {
		typ, v, err := wireAttr(a)
		if err != nil {
			return Path{}, fmt.Errorf("path %s from %q: %w", prefix, p.GetNeighborIp(), err)
		}
		switch {
		case typ == attrNextHop && len(v) == 4:
			nh, found = netip.AddrFrom4([4]byte(v)), true
		case typ == attrMPReach && !found && len(v) >= 4:
			// AFI (2), SAFI (1), next hop length (1), next hops: for IPv6
			// the global address comes first (RFC 2545).
			n := int(v[3])
			switch {
			case n >= 16 && len(v) >= 4+16:
				nh, found = netip.AddrFrom16([16]byte(v[4:20])).Unmap(), true
			case n == 4 && len(v) >= 8:
				nh, found = netip.AddrFrom4([4]byte(v[4:8])), true
			}
		}
	}
	if !found {
		return Path{}, fmt.Errorf("path %s from %q: next hop: missing", prefix, p.GetNeighborIp())
	}
	if nh.IsUnspecified() {
		return Path{}, fmt.Errorf("path %s from %q: next hop: unspecified next hop %s", prefix, p.GetNeighborIp(), nh)
	}
	return Path{Prefix: prefix, NextHop: nh}, nil
}

// multipathKeyOfBinary is multipathKeyOf for a binary-only path.
func multipathKeyOfBinary(p *api.Path, localASN uint32) multipathKey {
	k := multipathKey{ibgp: p.GetSourceAsn() == localASN, localPref: defaultLocalPref}
	for _, a := range p.GetPattrsBinary() {
		typ, v, err := wireAttr(a)
		if err != nil {
			continue
		}
		switch {
		case typ == attrLocalPref && len(v) == 4:
			k.localPref = binary.BigEndian.Uint32(v)
		case typ == attrMED && len(v) == 4:
			k.med = binary.BigEndian.Uint32(v)
		case typ == attrOrigin && len(v) == 1:
			k.origin = uint32(v[0])
		case typ == attrASPath:
			// GoBGP's own decoder tells 2- from 4-octet AS numbers.
			if attr, err := bgp.GetPathAttribute(a); err == nil && attr.DecodeFromBytes(a) == nil {
				if ap, ok := attr.(*bgp.PathAttributeAsPath); ok {
					k.asPathLen = wireASPathLen(ap)
				}
			}
		}
	}
	return k
}

// wireASPathLen counts as asPathLen does.
func wireASPathLen(a *bgp.PathAttributeAsPath) int {
	n := 0
	for _, s := range a.Value {
		switch s.GetType() {
		case bgp.BGP_ASPATH_ATTR_TYPE_SEQ:
			n += len(s.GetAS())
		case bgp.BGP_ASPATH_ATTR_TYPE_SET:
			n++
		}
	}
	return n
}
