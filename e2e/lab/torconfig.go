package lab

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// torPeer is a node the ToR configures explicitly, because it needs a
// setting a listen range cannot carry (a password of its own).
type torPeer struct {
	Address  netip.Addr
	Password string
}

// torPeers are the explicit neighbors of every ToR of a lab with opts, by
// address.
func torPeers(opts Options) []torPeer {
	var peers []torPeer
	for n, pw := range opts.ToRPasswords {
		peers = append(peers, torPeer{Address: RackNodeIP(NodeRack(n, opts.Racks), n), Password: pw})
	}
	slices.SortFunc(peers, func(a, b torPeer) int { return a.Address.Compare(b.Address) })
	return peers
}

func renderZebraConfig(tor *ToR) string {
	return fmt.Sprintf("! written by nodebgp's lab\nhostname %s\n", tor.Name)
}

// renderBgpdConfig is the ToR's bgpd.conf: every node is an eBGP neighbor in
// peer group NODES, accepted from any rack subnet through a listen range, so
// nodes come and go without touching FRR. No import or export policy (FRR
// would otherwise refuse eBGP routes without one), graceful restart as
// helper and restarter, and multipath across nodes of any AS, as a
// data-centre ToR is set up for anycast services. In a dual-stack lab the
// nodes' IPv6 sessions come through listen ranges of their own into peer
// group NODES6, which carries IPv6 unicast only; NODES carries IPv4 only.
func renderBgpdConfig(tor *ToR, peers []torPeer) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! written by nodebgp's lab")
	w("hostname %s", tor.Name)
	w("router bgp %d", ToRASN)
	w(" bgp router-id %s", tor.RouterID)
	w(" bgp log-neighbor-changes")
	w(" no bgp ebgp-requires-policy")
	w(" no bgp network import-check")
	w(" bgp graceful-restart")
	w(" bgp bestpath as-path multipath-relax")
	w(" neighbor %s peer-group", ToRPeerGroup)
	w(" neighbor %s remote-as external", ToRPeerGroup)
	for i := range tor.Addrs {
		w(" bgp listen range %s peer-group %s", RackPrefix(i+1), ToRPeerGroup)
	}
	if len(tor.Addrs6) > 0 {
		w(" neighbor %s peer-group", ToRPeerGroup6)
		w(" neighbor %s remote-as external", ToRPeerGroup6)
		for i := range tor.Addrs6 {
			w(" bgp listen range %s peer-group %s", RackPrefix6(i+1), ToRPeerGroup6)
		}
	}
	for _, p := range peers {
		w(" neighbor %s peer-group %s", p.Address, ToRPeerGroup)
		w(" neighbor %s password %s", p.Address, p.Password)
	}
	w(" address-family ipv4 unicast")
	w("  neighbor %s activate", ToRPeerGroup)
	if len(tor.Addrs6) > 0 {
		w("  no neighbor %s activate", ToRPeerGroup6)
	}
	w("  maximum-paths 16")
	w(" exit-address-family")
	if len(tor.Addrs6) > 0 {
		w(" address-family ipv6 unicast")
		w("  neighbor %s activate", ToRPeerGroup6)
		w("  maximum-paths 16")
		w(" exit-address-family")
	}
	w("exit")
	return b.String()
}
