package routes

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// fakeKernel is an in-memory routing table that behaves like the kernel where
// the reconciler relies on it, and fails the test when the reconciler breaks
// one of its promises: one dump of each kind per Sync, never touching a route
// without Protocol, never deleting a route that is not there, never adding
// over an existing route or "replacing" a missing one.
type fakeKernel struct {
	t      *testing.T
	links  []netlink.Link
	addrs  []netlink.Addr
	routes map[routeKey]netlink.Route
	// fail makes writes to these prefixes fail with the given error.
	fail map[netip.Prefix]error

	linkDumps, addrDumps, routeDumps int
	writes                           int
	// written is every write since the kernel was made, in order.
	written []RouteWrite
	// updating is set during an Update, which must not read the kernel and
	// may add over a route it did not know of (the kernel says EEXIST).
	updating bool
	// interrupted makes a route dump report that the table changed during
	// it, after it went through every route, as the kernel does.
	interrupted bool
}

type routeKey struct {
	table    int
	dst      netip.Prefix
	tos      int
	priority int
}

func newFakeKernel(t *testing.T) *fakeKernel {
	return &fakeKernel{t: t, routes: make(map[routeKey]netlink.Route), fail: make(map[netip.Prefix]error)}
}

// newPass starts counting dumps and writes for one Sync.
func (k *fakeKernel) newPass() {
	k.linkDumps, k.addrDumps, k.routeDumps, k.writes = 0, 0, 0, 0
}

func (k *fakeKernel) addLink(index int, name string, flags net.Flags, addrs ...string) {
	attrs := netlink.NewLinkAttrs()
	attrs.Index, attrs.Name, attrs.Flags = index, name, flags
	k.links = append(k.links, &netlink.Dummy{LinkAttrs: attrs})
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		k.addrs = append(k.addrs, netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, LinkIndex: index})
	}
}

// put stores a route the way the kernel would show it in a dump.
func (k *fakeKernel) put(r netlink.Route) {
	dst, ok := netconv.Prefix(r.Dst)
	if !ok {
		k.t.Fatalf("fake kernel: route without destination: %v", r)
	}
	if r.Table == 0 {
		r.Table = unix.RT_TABLE_MAIN
	}
	if r.Type == 0 {
		r.Type = unix.RTN_UNICAST
	}
	if dst.Addr().Is6() && r.Priority == 0 {
		r.Priority = 1024
	}
	r.Family = netlink.FAMILY_V4
	if dst.Addr().Is6() {
		r.Family = netlink.FAMILY_V6
	}
	k.routes[keyOf(r)] = r
}

func keyOf(r netlink.Route) routeKey {
	dst, _ := netconv.Prefix(r.Dst)
	prio := r.Priority
	if dst.Addr().Is6() && prio == 0 {
		prio = 1024
	}
	table := r.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	return routeKey{table: table, dst: dst, tos: r.Tos, priority: prio}
}

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.linkDumps++
	if k.updating {
		k.t.Errorf("fake kernel: a dump during Update, which must work from its record")
	}
	if k.linkDumps > 1 {
		k.t.Errorf("fake kernel: second link dump in one Sync")
	}
	return k.links, nil
}

func (k *fakeKernel) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	k.addrDumps++
	if k.updating {
		k.t.Errorf("fake kernel: a dump during Update, which must work from its record")
	}
	if k.addrDumps > 1 {
		k.t.Errorf("fake kernel: second address dump in one Sync")
	}
	if link != nil || family != netlink.FAMILY_ALL {
		k.t.Errorf("fake kernel: AddrList(%v, %d), want every link and family in one dump", link, family)
	}
	return k.addrs, nil
}

func (k *fakeKernel) RouteListFilteredIter(family int, filter *netlink.Route, mask uint64, f func(netlink.Route) bool) error {
	k.routeDumps++
	if k.updating {
		k.t.Errorf("fake kernel: a dump during Update, which must work from its record")
	}
	if k.routeDumps > 1 {
		k.t.Errorf("fake kernel: second route dump in one Sync")
	}
	keys := make([]routeKey, 0, len(k.routes))
	for key := range k.routes {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b routeKey) int { return comparePrefix(a.dst, b.dst) })
	for _, key := range keys {
		r := k.routes[key]
		switch {
		case family != netlink.FAMILY_ALL && r.Family != family:
			continue
		case mask&netlink.RT_FILTER_TABLE != 0 && filter.Table != 0 && r.Table != filter.Table:
			continue
		case mask&netlink.RT_FILTER_TABLE == 0 && r.Table != unix.RT_TABLE_MAIN:
			continue
		case mask&netlink.RT_FILTER_PROTOCOL != 0 && r.Protocol != filter.Protocol:
			continue
		}
		if !f(r) {
			break
		}
	}
	if k.interrupted {
		return netlink.ErrDumpInterrupted
	}
	return nil
}

// WriteRoutes applies the writes one by one, as the kernel does a batch.
func (k *fakeKernel) WriteRoutes(writes []RouteWrite) []error {
	errs := make([]error, len(writes))
	for i, w := range writes {
		k.writes++
		k.written = append(k.written, w)
		if err := k.fail[w.Dst]; err != nil {
			errs[i] = err
			continue
		}
		errs[i] = k.write(w)
	}
	return errs
}

// write fails the test on a write the reconciler should never make.
func (k *fakeKernel) write(w RouteWrite) error {
	key := writeKey(w)
	have, exists := k.routes[key]
	if exists && have.Protocol != Protocol && (w.Op != OpAdd || !k.updating) {
		k.t.Errorf("fake kernel: %s would hit a route of protocol %d, not ours: %v", opName(w.Op), have.Protocol, w)
	}
	switch w.Op {
	case OpAdd:
		switch {
		case exists && k.updating && have.Protocol != Protocol:
			return unix.EEXIST // a route the record could not know of
		case exists:
			k.t.Errorf("fake kernel: add of %s, which the dump showed to exist", w)
			return unix.EEXIST
		}
	case OpReplace:
		if !exists {
			k.t.Errorf("fake kernel: replace of %s, which does not exist: should have been an add", w)
		}
	case OpDelete:
		if !exists || have.Protocol != Protocol {
			k.t.Errorf("fake kernel: delete of %s (table %d, metric %d), which is not a route of ours", w, key.table, key.priority)
			return unix.ESRCH
		}
		delete(k.routes, key)
		return nil
	default:
		k.t.Errorf("fake kernel: unknown operation in %+v", w)
		return unix.EINVAL
	}
	r := netlink.Route{Dst: netconv.IPNet(w.Dst), Protocol: Protocol, Table: w.Table}
	if len(w.NextHops) == 0 {
		k.checkNextHop(w, w.Gateway, w.LinkIndex)
		r.Gw, r.LinkIndex = w.Gateway.AsSlice(), w.LinkIndex
	}
	// A multipath route, as the kernel shows it: no gateway of its own,
	// its next hops in MultiPath.
	for _, h := range w.NextHops {
		k.checkNextHop(w, h.Gateway, h.LinkIndex)
		r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{Gw: h.Gateway.AsSlice(), LinkIndex: h.LinkIndex})
	}
	k.put(r)
	return nil
}

func opName(op WriteOp) string {
	return map[WriteOp]string{OpAdd: "add", OpReplace: "replace", OpDelete: "delete"}[op]
}

func writeKey(w RouteWrite) routeKey {
	r := netlink.Route{Dst: netconv.IPNet(w.Dst), Table: w.Table, Priority: w.Priority, Tos: w.Tos}
	return keyOf(r)
}

// checkNextHop fails the test if the kernel would refuse gateway gw on link
// for w.
func (k *fakeKernel) checkNextHop(w RouteWrite, gw netip.Addr, link int) {
	for _, a := range k.addrs {
		p, _ := netconv.Prefix(a.IPNet)
		if a.LinkIndex == link && p.Masked().Contains(gw) {
			return
		}
	}
	k.t.Errorf("fake kernel: %s of %s: next hop %s dev %d not on a subnet of that link", opName(w.Op), w, gw, link)
}

// table lists the routes like `ip route`, sorted, for comparisons.
func (k *fakeKernel) table() []string {
	var out []string
	for _, r := range k.routes {
		via := fmt.Sprintf("via %s dev %d", r.Gw, r.LinkIndex)
		if len(r.MultiPath) > 0 {
			var hops []string
			for _, h := range r.MultiPath {
				hops = append(hops, fmt.Sprintf("nexthop via %s dev %d", net.IP(h.Gw), h.LinkIndex))
			}
			via = strings.Join(hops, " ")
		}
		out = append(out, fmt.Sprintf("%s %s proto %d table %d metric %d", r.Dst, via, r.Protocol, r.Table, r.Priority))
	}
	slices.Sort(out)
	return out
}
