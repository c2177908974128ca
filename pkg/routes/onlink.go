package routes

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// onLink is what the node can reach directly: the subnets of its up,
// non-loopback links. A BGP next hop is usable only inside one of them; the
// kernel would refuse anything else, and we would rather say why ourselves.
type onLink struct {
	subnets []subnet
	local   map[netip.Addr]bool
}

type subnet struct {
	prefix netip.Prefix
	link   int
}

// Reasons a next hop is not usable, as logged and reported.
const (
	reasonNotConnected = "next hop is not on a connected subnet of an up link"
	reasonAmbiguous    = "next hop is on connected subnets of several links"
	reasonLocal        = "next hop is one of this node's own addresses"
)

// readOnLink takes one link dump and one address dump (both families).
func readOnLink(k Kernel) (onLink, error) {
	links, err := k.LinkList()
	if err != nil {
		return onLink{}, fmt.Errorf("listing links: %w", err)
	}
	addrs, err := k.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return onLink{}, fmt.Errorf("listing addresses: %w", err)
	}
	return buildOnLink(links, addrs), nil
}

func buildOnLink(links []netlink.Link, addrs []netlink.Addr) onLink {
	usable := make(map[int]bool, len(links))
	for _, l := range links {
		a := l.Attrs()
		// A route via a down link is refused by the kernel and flushed
		// when the link goes down; the loopback carries no next hops.
		usable[a.Index] = a.Flags&net.FlagUp != 0 && a.Flags&net.FlagLoopback == 0
	}
	o := onLink{local: make(map[netip.Addr]bool, len(addrs))}
	for _, a := range addrs {
		p, ok := netconv.Prefix(a.IPNet)
		if !ok {
			continue
		}
		o.local[p.Addr()] = true
		if !usable[a.LinkIndex] {
			continue
		}
		// On a point-to-point address the connected subnet is the peer's.
		if peer, ok := netconv.Prefix(a.Peer); ok {
			p = peer
		}
		o.subnets = append(o.subnets, subnet{prefix: p.Masked(), link: a.LinkIndex})
	}
	return o
}

// resolve returns the link that carries gw, or why none does. The longest
// matching subnet wins; equally long matches on two links (every link has
// fe80::/64) leave no way to choose, so the next hop is not usable.
func (o onLink) resolve(gw netip.Addr) (link int, reason string) {
	if o.local[gw] {
		return 0, reasonLocal
	}
	best, bits, ambiguous := 0, -1, false
	for _, s := range o.subnets {
		if !s.prefix.Contains(gw) || s.prefix.Bits() < bits {
			continue
		}
		if s.prefix.Bits() == bits {
			ambiguous = ambiguous || s.link != best
			continue
		}
		best, bits, ambiguous = s.link, s.prefix.Bits(), false
	}
	switch {
	case bits < 0:
		return 0, reasonNotConnected
	case ambiguous:
		return 0, reasonAmbiguous
	}
	return best, ""
}
