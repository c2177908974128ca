package server

import (
	"github.com/osrg/gobgp/v3/internal/pkg/table"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// ListBestPaths calls fn with the best paths of every destination of the
// global RIB's IPv4 and IPv6 unicast tables, in the form SetBestPathHook
// hands changes over: with multipath on, the destination's equal-cost set
// (the paths a best-path event of it would carry), else its best path; a
// destination whose paths all have an unreachable next hop is left out.
// Unlike ListPath it copies no table and converts no path to GoBGP's API
// form, so reading a table of 100,000 routes costs the caller what fn does
// with them and little else.
//
// fn runs inside the server loop, once per destination: it must return
// quickly, must not call the BgpServer, and must not keep the slice, which is
// reused after it returns. The server loop handles nothing else until the
// walk is done.
func (s *BgpServer) ListBestPaths(fn func([]BestPath)) error {
	return s.walkUnicast(func(dst *table.Destination, buf []BestPath) []BestPath {
		if !s.bgpConfig.Global.UseMultiplePaths.Config.Enabled {
			return appendBestPath(buf, dst.GetBestPath(table.GLOBAL_RIB_NAME, 0))
		}
		// GetMultiBestPath's set, without its list per destination.
		var best *table.Path
		for _, p := range dst.GetAllKnownPathList() {
			switch {
			case p.IsNexthopInvalid:
				continue
			case best == nil:
				best = p
			case best.Compare(p) != 0:
				continue
			}
			buf = appendBestPath(buf, p)
		}
		return buf
	}, fn)
}

// ListLocalPaths is ListBestPaths for the paths this server originates
// (AddPath), best or not: fn gets each destination's local paths.
func (s *BgpServer) ListLocalPaths(fn func([]BestPath)) error {
	return s.walkUnicast(func(dst *table.Destination, buf []BestPath) []BestPath {
		for _, p := range dst.GetAllKnownPathList() {
			if p.IsLocal() && !p.IsWithdraw {
				buf = appendBestPath(buf, p)
			}
		}
		return buf
	}, fn)
}

// walkUnicast calls fn, inside the server loop, with what pick appends for
// each destination of the global RIB's IPv4 and IPv6 unicast tables, unless
// that is nothing.
func (s *BgpServer) walkUnicast(pick func(*table.Destination, []BestPath) []BestPath, fn func([]BestPath)) error {
	return s.mgmtOperation(func() error {
		var buf []BestPath
		for _, family := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
			t, ok := s.globalRib.Tables[family]
			if !ok {
				continue
			}
			for _, dst := range t.GetDestinations() {
				if buf = pick(dst, buf[:0]); len(buf) > 0 {
					fn(buf)
				}
			}
		}
		return nil
	}, true)
}
