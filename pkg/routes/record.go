package routes

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// record holds our routes under our key, one per prefix: what a dump found
// (actual.ours) and, once a Sync is done, the Reconciler's record, kept up
// to date by every write. It is the agent's one per-route structure, so it
// is kept small and free of pointers: a map whose entries hold pointers is
// scanned by the garbage collector entry by entry on every cycle, and
// netip.Prefix and netip.Addr each hold one (for an IPv6 zone).
//
// A route is its prefix's bytes and the index of its next hop in hops: a
// node's routes go to few distinct next hops (its peers, the other nodes),
// so each route keeps 4 bytes where the next hop takes 24. IPv4 routes go to
// a map per prefix length, keyed by the address as a number: Go's maps have
// a fast path for 4-byte keys (no hash or compare function called per
// lookup, which a struct key costs), and a slot is 8 bytes. 100,000 routes
// hold 12 bytes each with the map's spare room, against 17 with a 5-byte
// address-and-length key and 63 with the next hop in the entry
// (BenchmarkRecordMemory). The rare multipath route keeps its next hops in
// a second, small map.
type record struct {
	v4    [33]map[uint32]hopID // by prefix length; nil until one is used
	v6    map[v6Key]hopID
	hops  hopTable
	multi map[netip.Prefix][]NextHop
}

// v6Key is a prefix without a zone, as routes have none. IPv4 and
// IPv4-mapped IPv6 prefixes are different routes, so they go to different
// maps.
type v6Key struct {
	addr [16]byte
	bits uint8
}

// recordHop is ourRoute without pointers: a plain route's gateway and link,
// or a mark that the route is odd or multipath.
type recordHop struct {
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
	return &record{v6: map[v6Key]hopID{}, hops: newHopTable(), multi: map[netip.Prefix][]NextHop{}}
}

// v4Of is the map of p's length, an IPv4 prefix, and p's key in it.
func (r *record) v4Of(p netip.Prefix) (map[uint32]hopID, uint32) {
	a := p.Addr().As4()
	return r.v4[p.Bits()], binary.BigEndian.Uint32(a[:])
}

func v6KeyOf(p netip.Prefix) v6Key { return v6Key{addr: p.Addr().As16(), bits: uint8(p.Bits())} }

// lookup finds p's next hop index.
func (r *record) lookup(p netip.Prefix) (hopID, bool) {
	if p.Addr().Is4() {
		m, k := r.v4Of(p)
		id, ok := m[k]
		return id, ok
	}
	id, ok := r.v6[v6KeyOf(p)]
	return id, ok
}

func (r *record) has(p netip.Prefix) bool {
	_, ok := r.lookup(p)
	return ok
}

func (r *record) get(p netip.Prefix) (ourRoute, bool) {
	id, ok := r.lookup(p)
	if !ok {
		return ourRoute{}, false
	}
	return r.expand(p, r.hops.at(id)), true
}

func (r *record) expand(p netip.Prefix, h recordHop) ourRoute {
	switch {
	case h.flags&recordOdd != 0:
		return ourRoute{odd: true}
	case h.flags&recordMulti != 0:
		return ourRoute{multi: r.multi[p]}
	}
	hop := NextHop{LinkIndex: int(h.link)}
	if h.flags&recordGatewaySet != 0 {
		hop.Gateway = netip.AddrFrom16(h.gateway)
		if h.flags&recordGatewayV4 != 0 {
			hop.Gateway = hop.Gateway.Unmap()
		}
	}
	return ourRoute{hop: hop}
}

func recordHopOf(route ourRoute) recordHop {
	var h recordHop
	switch {
	case route.odd:
		h.flags = recordOdd
	case route.multi != nil:
		h.flags = recordMulti
	default:
		h.link = int32(route.hop.LinkIndex)
		if gw := route.hop.Gateway; gw.IsValid() {
			h.gateway, h.flags = gw.As16(), recordGatewaySet
			if gw.Is4() {
				h.flags |= recordGatewayV4
			}
		}
	}
	return h
}

// set records route as ours for p. A multipath route's next hops are kept
// as given: the caller hands over a slice it no longer changes.
func (r *record) set(p netip.Prefix, route ourRoute) {
	id := r.hops.intern(recordHopOf(route))
	var old hopID
	var had bool
	if p.Addr().Is4() {
		m, k := r.v4Of(p)
		if m == nil {
			m = map[uint32]hopID{}
			r.v4[p.Bits()] = m
		}
		old, had = swapHop(m, k, id)
	} else {
		old, had = swapHop(r.v6, v6KeyOf(p), id)
	}
	if had {
		r.forget(p, old)
	}
	if route.multi != nil && !route.odd {
		r.multi[p] = route.multi
	}
}

func swapHop[K comparable](m map[K]hopID, k K, id hopID) (old hopID, had bool) {
	old, had = m[k]
	m[k] = id
	return old, had
}

func (r *record) delete(p netip.Prefix) {
	id, ok := r.lookup(p)
	if !ok {
		return
	}
	if p.Addr().Is4() {
		m, k := r.v4Of(p)
		delete(m, k)
	} else {
		delete(r.v6, v6KeyOf(p))
	}
	r.forget(p, id)
}

// forget drops p's hold on the next hop it had, and that next hop's list if
// it was multipath (set puts a multipath route's list back after this).
func (r *record) forget(p netip.Prefix, id hopID) {
	if r.hops.at(id).flags&recordMulti != 0 {
		delete(r.multi, p)
	}
	r.hops.release(id)
}

// all yields every route, in no particular order.
func (r *record) all() iter.Seq2[netip.Prefix, ourRoute] {
	return func(yield func(netip.Prefix, ourRoute) bool) {
		for bits, m := range r.v4 {
			for k, id := range m {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], k)
				p := netip.PrefixFrom(netip.AddrFrom4(a), bits)
				if !yield(p, r.expand(p, r.hops.at(id))) {
					return
				}
			}
		}
		for k, id := range r.v6 {
			p := netip.PrefixFrom(netip.AddrFrom16(k.addr), int(k.bits))
			if !yield(p, r.expand(p, r.hops.at(id))) {
				return
			}
		}
	}
}

// hopID is a next hop's place in a hopTable.
type hopID uint32

// hopTable keeps each distinct next hop of the record once, with the number
// of routes that use it, so a next hop no route uses any more gives its
// place to the next new one: the table stays as big as the next hops in
// use, through any churn of peers and nodes.
type hopTable struct {
	hops []recordHop
	refs []uint32
	ids  map[recordHop]hopID
	free []hopID
}

func newHopTable() hopTable { return hopTable{ids: map[recordHop]hopID{}} }

func (t *hopTable) at(id hopID) recordHop { return t.hops[id] }

// intern returns h's place, taking one more hold on it.
func (t *hopTable) intern(h recordHop) hopID {
	if id, ok := t.ids[h]; ok {
		t.refs[id]++
		return id
	}
	var id hopID
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.hops[id], t.refs[id] = h, 1
	} else {
		id = hopID(len(t.hops))
		t.hops, t.refs = append(t.hops, h), append(t.refs, 1)
	}
	t.ids[h] = id
	return id
}

// release drops one hold on id; the last frees its place.
func (t *hopTable) release(id hopID) {
	if t.refs[id]--; t.refs[id] == 0 {
		delete(t.ids, t.hops[id])
		t.hops[id] = recordHop{}
		t.free = append(t.free, id)
	}
}
