package hostnet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// LinkMTU returns the MTU and name of the link that carries ip (the node's
// InternalIP): pods must not get a bigger MTU than the node's own link can
// carry. The loopback, or an address no link has, is an error. It only reads,
// in two netlink dumps, so it takes no context.
func (h *Host) LinkMTU(ip netip.Addr) (mtu int, link string, err error) {
	ip = ip.Unmap().WithZone("")
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, "", fmt.Errorf("finding the link of %s: listing addresses: %w", ip, err)
	}
	for _, a := range addrs {
		p, ok := netconv.Prefix(a.IPNet)
		if !ok || p.Addr() != ip {
			continue
		}
		l, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return 0, "", fmt.Errorf("finding the link of %s: link %d: %w", ip, a.LinkIndex, err)
		}
		attrs := l.Attrs()
		if attrs.Flags&net.FlagLoopback != 0 {
			return 0, "", fmt.Errorf("address %s is on the loopback %s, not on a link to other nodes", ip, attrs.Name)
		}
		return attrs.MTU, attrs.Name, nil
	}
	return 0, "", fmt.Errorf("no link has address %s", ip)
}
