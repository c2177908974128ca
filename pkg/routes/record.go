package routes

import (
	"iter"
	"net/netip"
)

// record holds our routes under our key, one per prefix: what a dump found
// (actual.ours) and, once a Sync is done, the Reconciler's record, kept up
// to date by every write. It is the agent's one per-route structure, so it
// is kept small and free of pointers: netip.Prefix and netip.Addr each hold
// one (for an IPv6 zone), and a map whose entries hold pointers is scanned
// by the garbage collector entry by entry on every cycle. A plain route is
// 42 bytes here against 96 as map[netip.Prefix]ourRoute; the rare
// multipath route keeps its next hops in a second, small map.
type record struct {
	plain map[recordKey]recordRoute
	multi map[netip.Prefix][]NextHop
}

// recordKey is a prefix without a zone, as routes have none.
type recordKey struct {
	addr [16]byte
	bits uint8
	v6   bool
}

// recordRoute is ourRoute without pointers: a plain route's gateway and
// link, or a mark that the route is odd or multipath.
type recordRoute struct {
	gateway [16]byte
	link    int32
	flags   uint8
}

const (
	recordGatewaySet uint8 = 1 << iota // gateway holds an address
	recordGatewayV4                    // ... an IPv4 one
	recordOdd                          // ourRoute.odd
	recordMulti                        // the next hops are in record.multi
)

func newRecord() *record {
	return &record{plain: map[recordKey]recordRoute{}, multi: map[netip.Prefix][]NextHop{}}
}

func recordKeyOf(p netip.Prefix) recordKey {
	return recordKey{addr: p.Addr().As16(), bits: uint8(p.Bits()), v6: p.Addr().Is6()}
}

func (k recordKey) prefix() netip.Prefix {
	a := netip.AddrFrom16(k.addr)
	if !k.v6 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(k.bits))
}

func (r *record) len() int { return len(r.plain) }

func (r *record) has(p netip.Prefix) bool {
	_, ok := r.plain[recordKeyOf(p)]
	return ok
}

func (r *record) get(p netip.Prefix) (ourRoute, bool) {
	e, ok := r.plain[recordKeyOf(p)]
	if !ok {
		return ourRoute{}, false
	}
	return r.expand(p, e), true
}

func (r *record) expand(p netip.Prefix, e recordRoute) ourRoute {
	switch {
	case e.flags&recordOdd != 0:
		return ourRoute{odd: true}
	case e.flags&recordMulti != 0:
		return ourRoute{multi: r.multi[p]}
	}
	hop := NextHop{LinkIndex: int(e.link)}
	if e.flags&recordGatewaySet != 0 {
		hop.Gateway = netip.AddrFrom16(e.gateway)
		if e.flags&recordGatewayV4 != 0 {
			hop.Gateway = hop.Gateway.Unmap()
		}
	}
	return ourRoute{hop: hop}
}

// set records route as ours for p. A multipath route's next hops are kept
// as given: the caller hands over a slice it no longer changes.
func (r *record) set(p netip.Prefix, route ourRoute) {
	k := recordKeyOf(p)
	if old, ok := r.plain[k]; ok && old.flags&recordMulti != 0 && route.multi == nil {
		delete(r.multi, p)
	}
	var e recordRoute
	switch {
	case route.odd:
		e.flags = recordOdd
	case route.multi != nil:
		e.flags = recordMulti
		r.multi[p] = route.multi
	default:
		e.link = int32(route.hop.LinkIndex)
		if gw := route.hop.Gateway; gw.IsValid() {
			e.gateway, e.flags = gw.As16(), recordGatewaySet
			if gw.Is4() {
				e.flags |= recordGatewayV4
			}
		}
	}
	r.plain[k] = e
}

func (r *record) delete(p netip.Prefix) {
	k := recordKeyOf(p)
	if e, ok := r.plain[k]; ok && e.flags&recordMulti != 0 {
		delete(r.multi, p)
	}
	delete(r.plain, k)
}

// all yields every route, in no particular order.
func (r *record) all() iter.Seq2[netip.Prefix, ourRoute] {
	return func(yield func(netip.Prefix, ourRoute) bool) {
		for k, e := range r.plain {
			p := k.prefix()
			if !yield(p, r.expand(p, e)) {
				return
			}
		}
	}
}
