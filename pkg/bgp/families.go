package bgp

import (
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
)

var (
	familyIPv4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyIPv6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// familyOf returns the unicast family of addr.
func familyOf(addr netip.Addr) *api.Family {
	if addr.Unmap().Is4() {
		return familyIPv4
	}
	return familyIPv6
}

// peerFamilies is the one place that decides which address families a
// session negotiates: the family of the peer's own address, nothing else.
// A family the peer does not use must not be offered: with graceful restart
// we would wait for its End-of-RIB, which a ToR without IPv6 never sends.
func peerFamilies(peer netip.Addr) []*api.Family {
	return []*api.Family{familyOf(peer)}
}

// peerAfiSafis renders peerFamilies for GoBGP, with per-family graceful
// restart (the capability's AFI/SAFI tuples) when gr is set, and a prefix
// limit when maxPrefixes is not 0. Over the limit GoBGP sends a Cease
// (maximum number of prefixes reached) and drops the session
// (peer.go:508-527); it reconnects after its idle hold time and drops it
// again while the peer keeps sending too many. As every peer has one
// family, the limit is the peer's.
func peerAfiSafis(peer netip.Addr, gr bool, maxPrefixes uint32) []*api.AfiSafi {
	fams := peerFamilies(peer)
	out := make([]*api.AfiSafi, 0, len(fams))
	for _, f := range fams {
		a := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if maxPrefixes > 0 {
			a.PrefixLimits = &api.PrefixLimit{Family: f, MaxPrefixes: maxPrefixes}
		}
		if gr {
			a.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		out = append(out, a)
	}
	return out
}

// familyName is a short name of f for logs and errors.
func familyName(f *api.Family) string {
	switch {
	case f.GetAfi() == api.Family_AFI_IP && f.GetSafi() == api.Family_SAFI_UNICAST:
		return "ipv4-unicast"
	case f.GetAfi() == api.Family_AFI_IP6 && f.GetSafi() == api.Family_SAFI_UNICAST:
		return "ipv6-unicast"
	default:
		return f.GetAfi().String() + "/" + f.GetSafi().String()
	}
}
