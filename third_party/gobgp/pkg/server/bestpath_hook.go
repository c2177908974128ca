package server

import (
	"net/netip"

	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// BestPath is one path of a change of the global RIB's best paths, as
// SetBestPathHook hands it over: what a caller that installs routes reads,
// without GoBGP's API form.
type BestPath struct {
	Prefix  netip.Prefix // IPv4 or IPv6 unicast
	NextHop netip.Addr   // invalid when the path carries none
	// Withdrawal: no path is left for Prefix; this is the last best path,
	// marked withdrawn.
	Withdrawal bool
	// NextHopInvalid: GoBGP's next-hop tracking found the next hop
	// unreachable.
	NextHopInvalid bool
	// Learned: the path came from a peer, not from this speaker (AddPath).
	Learned bool
}

// SetBestPathHook makes the server call fn with the paths of every change of
// the global RIB's IPv4 and IPv6 unicast best paths, the paths WatchEvent's
// best-path events carry (with multipath on, the destination's new
// equal-cost set, or its last best path as a withdrawal), in the order the
// server decides them; nil removes the hook. Unlike WatchEvent it copies no
// path, queues nothing and converts nothing, so a burst of changes costs the
// caller only what fn does with them, and no withdrawn path is kept alive
// for a slow reader.
//
// fn runs inside the server loop, one call at a time: it must return quickly,
// must not call the BgpServer (that would wait for the loop fn blocks), and
// must not keep the slice, which is reused after it returns. Changes of other
// families are not passed to fn; a path whose prefix cannot be read is left
// out.
func (s *BgpServer) SetBestPathHook(fn func([]BestPath)) error {
	return s.mgmtOperation(func() error {
		s.bestPathHook = fn
		s.bestPathBuf = nil
		return nil
	}, false)
}

// callBestPathHook passes one notifyBestWatcher call's paths to the hook:
// the multipath sets when there are any, else the best paths (as WatchEvent
// does).
func (s *BgpServer) callBestPathHook(best []*table.Path, multipath [][]*table.Path) {
	buf := s.bestPathBuf[:0]
	if len(multipath) > 0 {
		for _, paths := range multipath {
			for _, p := range paths {
				buf = appendBestPath(buf, p)
			}
		}
	} else {
		for _, p := range best {
			buf = appendBestPath(buf, p)
		}
	}
	s.bestPathBuf = buf
	if len(buf) > 0 {
		s.bestPathHook(buf)
	}
}

// appendBestPath appends p in the hook's form, unless p is nil, of another
// family than IPv4 or IPv6 unicast, or its prefix cannot be read.
func appendBestPath(buf []BestPath, p *table.Path) []BestPath {
	if p == nil {
		return buf
	}
	if f := p.GetRouteFamily(); f != bgp.RF_IPv4_UC && f != bgp.RF_IPv6_UC {
		return buf
	}
	prefix, ok := unicastPrefix(p.GetNlri())
	if !ok {
		return buf
	}
	nh, _ := netip.AddrFromSlice(p.GetNexthop())
	return append(buf, BestPath{
		Prefix:         prefix,
		NextHop:        nh.Unmap(),
		Withdrawal:     p.IsWithdraw,
		NextHopInvalid: p.IsNexthopInvalid,
		Learned:        !p.IsLocal(),
	})
}

// unicastPrefix reads an IPv4 or IPv6 unicast NLRI without formatting it.
func unicastPrefix(nlri bgp.AddrPrefixInterface) (netip.Prefix, bool) {
	var ip []byte
	var length uint8
	v4 := false
	switch n := nlri.(type) {
	case *bgp.IPAddrPrefix:
		ip, length, v4 = n.Prefix, n.Length, true
	case *bgp.IPv6AddrPrefix:
		ip, length = n.Prefix, n.Length
	default:
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	if v4 {
		addr = addr.Unmap()
	}
	prefix := netip.PrefixFrom(addr, int(length))
	return prefix, prefix.IsValid()
}
