package routes

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
)

// Kernel is the reconciler's view of the kernel: three dumps to read it, one
// batched call to change it. Unit tests use a fake; newKernel is the real one.
type Kernel interface {
	// LinkList tells which links are up and which is the loopback.
	LinkList() ([]netlink.Link, error)
	// AddrList with a nil link lists the addresses of every link.
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	// RouteListFilteredIter streams one route dump, so that a full table
	// is never held in memory.
	RouteListFilteredIter(family int, filter *netlink.Route, filterMask uint64, f func(netlink.Route) bool) error
	// WriteRoutes applies the writes in order and returns one error per
	// write, nil where it succeeded. A failed write does not stop the rest.
	// The list is valid until the next call, which may reuse it.
	WriteRoutes(writes []RouteWrite) []error
}

// RouteWrite is one change to a route of ours. It has no protocol field: the
// kernel side always writes Protocol, so no write can create or delete
// anyone else's route.
type RouteWrite struct {
	Op  WriteOp
	Dst netip.Prefix
	// Gateway and LinkIndex say where an added or replaced route goes;
	// deletes leave them out.
	Gateway   netip.Addr
	LinkIndex int
	// NextHops, when set, makes an added or replaced route a multipath
	// (ECMP) route over these next hops instead (RTA_MULTIPATH, equal
	// weights); Gateway and LinkIndex are then unused.
	NextHops []NextHop
	Table    int
	// Priority (the metric) and Tos name the route a delete removes; adds
	// and replaces leave them 0, the kernel's default.
	Priority int
	Tos      int
}

// NextHop is one gateway of a multipath route and the link that carries it.
type NextHop struct {
	Gateway   netip.Addr
	LinkIndex int
}

// WriteOp is what a RouteWrite does.
type WriteOp uint8

const (
	// OpAdd creates a route, failing with EEXIST if one holds its key.
	OpAdd WriteOp = iota + 1
	// OpReplace overwrites the route under the same key, or creates it.
	OpReplace
	// OpDelete removes the route of Protocol with that key.
	OpDelete
)

func (w RouteWrite) String() string {
	if len(w.NextHops) > 0 {
		gws := make([]string, 0, len(w.NextHops))
		for _, h := range w.NextHops {
			gws = append(gws, h.Gateway.String())
		}
		return fmt.Sprintf("%s via %s", w.Dst, strings.Join(gws, ", "))
	}
	if w.Gateway.IsValid() {
		return fmt.Sprintf("%s via %s", w.Dst, w.Gateway)
	}
	return w.Dst.String()
}
