package routes

import (
	"net/netip"
	"reflect"
	"runtime"
	"testing"
)

func TestRecordKeepsEveryKindOfRoute(t *testing.T) {
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	multi := []NextHop{{Gateway: addr("10.0.0.1"), LinkIndex: 3}, {Gateway: addr("10.0.0.2"), LinkIndex: 3}}
	tests := []struct {
		name   string
		prefix netip.Prefix
		route  ourRoute
	}{
		{"an IPv4 route via a gateway", pfx("172.16.0.1/32"), ourRoute{hop: NextHop{Gateway: addr("10.199.1.100"), LinkIndex: 7}}},
		{"an IPv6 route via a gateway", pfx("2001:db8::/64"), ourRoute{hop: NextHop{Gateway: addr("fd00::1"), LinkIndex: 2}}},
		{"an IPv6 route via an IPv4 gateway", pfx("2001:db8:1::/64"), ourRoute{hop: NextHop{Gateway: addr("10.0.0.1"), LinkIndex: 2}}},
		{"a route without a gateway", pfx("10.244.3.0/24"), ourRoute{hop: NextHop{LinkIndex: 4}}},
		{"an odd route", pfx("10.244.4.0/24"), ourRoute{odd: true}},
		{"a multipath route", pfx("10.244.5.0/24"), ourRoute{multi: multi}},
		{"a default route", pfx("0.0.0.0/0"), ourRoute{hop: NextHop{Gateway: addr("10.0.0.1"), LinkIndex: 1}}},
		{"a shorter prefix at another's address", pfx("10.244.4.0/23"), ourRoute{hop: NextHop{Gateway: addr("10.0.0.3"), LinkIndex: 1}}},
	}
	r := newRecord()
	for _, tt := range tests {
		r.set(tt.prefix, tt.route)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.get(tt.prefix)
			if !ok || !reflect.DeepEqual(got, tt.route) {
				t.Errorf("get(%s) = %+v, %v; want %+v", tt.prefix, got, ok, tt.route)
			}
		})
	}
	seen := map[netip.Prefix]ourRoute{}
	for p, route := range r.all() {
		seen[p] = route
	}
	if len(seen) != len(tests) {
		t.Errorf("all() gave %d routes, want %d", len(seen), len(tests))
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(seen[tt.prefix], tt.route) {
			t.Errorf("all() gave %s as %+v, want %+v", tt.prefix, seen[tt.prefix], tt.route)
		}
	}
}

func TestRecordTellsIPv4FromMappedIPv6(t *testing.T) {
	r := newRecord()
	v4 := netip.MustParsePrefix("10.0.0.0/24")
	r.set(v4, ourRoute{hop: NextHop{LinkIndex: 1}})
	for _, p := range []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/24"), netip.MustParsePrefix("::ffff:10.0.0.0/120")} {
		if r.has(p) {
			t.Errorf("has(%s) after setting %s", p, v4)
		}
	}
}

func TestRecordDropsMultipathHopsWithTheirRoute(t *testing.T) {
	p := netip.MustParsePrefix("10.244.5.0/24")
	multi := ourRoute{multi: []NextHop{{Gateway: netip.MustParseAddr("10.0.0.1")}, {Gateway: netip.MustParseAddr("10.0.0.2")}}}
	r := newRecord()
	r.set(p, multi)
	r.set(p, ourRoute{hop: NextHop{Gateway: netip.MustParseAddr("10.0.0.1")}})
	if len(r.multi) != 0 {
		t.Errorf("a multipath route replaced by a plain one left its next hops behind")
	}
	r.set(p, multi)
	r.delete(p)
	if len(r.multi) != 0 || r.has(p) {
		t.Errorf("a deleted multipath route left its next hops or its entry behind")
	}
}

// The record's maps hold no pointers, so the garbage collector does not
// scan their entries (a 100,000-route table is one entry per route).
func TestRecordEntriesHoldNoPointers(t *testing.T) {
	var pointerFree func(typ reflect.Type) bool
	pointerFree = func(typ reflect.Type) bool {
		switch typ.Kind() {
		case reflect.Bool, reflect.Uint8, reflect.Int32, reflect.Uint32:
			return true
		case reflect.Array:
			return pointerFree(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				if !pointerFree(typ.Field(i).Type) {
					return false
				}
			}
			return true
		}
		return false
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[v6Key](), reflect.TypeFor[hopID](), reflect.TypeFor[recordHop](),
	} {
		if !pointerFree(typ) {
			t.Errorf("%s holds a pointer: the record's entries must stay free of them", typ.Name())
		}
	}
}

func TestRecordKeepsEachNextHopOnceWhileARouteUsesIt(t *testing.T) {
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	viaA := ourRoute{hop: NextHop{Gateway: addr("10.0.0.1"), LinkIndex: 2}}
	viaB := ourRoute{hop: NextHop{Gateway: addr("10.0.0.2"), LinkIndex: 2}}
	viaC := ourRoute{hop: NextHop{Gateway: addr("10.0.0.3"), LinkIndex: 2}}
	tests := []struct {
		name          string
		do            func(r *record)
		wantHops      int // distinct next hops in use
		wantTableSize int // places in the table, used or free
	}{
		{"routes via one gateway share its next hop", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.set(pfx("172.16.0.2/32"), viaA)
			r.set(pfx("2001:db8::/64"), viaA)
		}, 1, 1},
		{"a route moved to another gateway leaves the first while others use it", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.set(pfx("172.16.0.2/32"), viaA)
			r.set(pfx("172.16.0.2/32"), viaB)
		}, 2, 2},
		{"the last route moved away frees its next hop", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.set(pfx("172.16.0.1/32"), viaB)
		}, 1, 2},
		{"a new next hop takes the place a deleted route's freed", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.set(pfx("172.16.0.2/32"), viaB)
			r.delete(pfx("172.16.0.2/32"))
			r.set(pfx("172.16.0.3/32"), viaC)
		}, 2, 2},
		{"setting a route again to the same next hop takes no second hold", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.set(pfx("172.16.0.1/32"), viaA)
			r.delete(pfx("172.16.0.1/32"))
		}, 0, 1},
		{"deleting a route the record does not hold changes nothing", func(r *record) {
			r.set(pfx("172.16.0.1/32"), viaA)
			r.delete(pfx("172.16.0.9/32"))
			r.delete(pfx("::ffff:172.16.0.1/128"))
		}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord()
			tt.do(r)
			if got := len(r.hops.ids); got != tt.wantHops {
				t.Errorf("%d next hops in use, want %d", got, tt.wantHops)
			}
			if got := len(r.hops.hops); got != tt.wantTableSize {
				t.Errorf("the table has %d places, want %d", got, tt.wantTableSize)
			}
			held := map[hopID]int{}
			for _, m := range r.v4 {
				for _, id := range m {
					held[id]++
				}
			}
			for _, id := range r.v6 {
				held[id]++
			}
			for id, refs := range r.hops.refs {
				if int(refs) != held[hopID(id)] {
					t.Errorf("next hop %d counts %d routes, %d use it", id, refs, held[hopID(id)])
				}
			}
		})
	}
}

// What the record costs per route, against the map it replaced (the
// figures in docs/benchmarks.md): go test -run '^$' -bench RecordMemory.
func BenchmarkRecordMemory(b *testing.B) {
	const n = 100_000
	prefixes := make([]netip.Prefix, n)
	for i := range prefixes {
		prefixes[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + i>>16), byte(i >> 8), byte(i)}), 32)
	}
	route := ourRoute{hop: NextHop{Gateway: netip.MustParseAddr("10.199.1.100"), LinkIndex: 7}}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, c := range []struct {
		name string
		fill func() any
	}{
		{"record", func() any {
			r := newRecord()
			for _, p := range prefixes {
				r.set(p, route)
			}
			return r
		}},
		{"map[netip.Prefix]ourRoute", func() any {
			m := map[netip.Prefix]ourRoute{}
			for _, p := range prefixes {
				m[p] = route
			}
			return m
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var perRoute float64
			for range b.N {
				before := heap()
				kept := c.fill()
				perRoute = float64(heap()-before) / n
				runtime.KeepAlive(kept)
			}
			b.ReportMetric(perRoute, "B/route")
		})
	}
}
