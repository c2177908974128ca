package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// agentProtocol is routes.Protocol: every route the agent installs carries it.
// The ip -batch reference routes carry it too, so one counter reads both.
const agentProtocol = 78

// routeCounter counts the main-table IPv4 routes of one protocol inside a
// prefix range in one namespace. It is polled every few milliseconds while
// the agent works, so it must be cheap: one netlink socket opened once, a
// dump the kernel filters by protocol, and only the fixed header and RTA_DST
// of each route read.
type routeCounter struct {
	netns  string
	within netip.Prefix
	proto  byte
	fd     int
	seq    uint32
	buf    []byte
}

// newRouteCounter opens a NETLINK_ROUTE socket inside netns. A socket stays
// in the namespace it was created in, so only its creation needs a thread
// switched into the namespace; that runs on a goroutine of its own, whose
// thread is discarded if it cannot be switched back.
func newRouteCounter(netnsName string, within netip.Prefix, proto int) (*routeCounter, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, restored := socketIn(netnsName)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("netlink socket in %s: %w", netnsName, r.err)
	}
	c := &routeCounter{netns: netnsName, within: within.Masked(), proto: byte(proto), fd: r.fd, buf: make([]byte, 1<<20)}
	// Strict checking makes the kernel filter the dump by protocol and table
	// (Linux 4.20+); without it every route comes back and is filtered here.
	_ = unix.SetsockoptInt(r.fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	if err := unix.Bind(r.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		_ = unix.Close(r.fd)
		return nil, fmt.Errorf("binding netlink socket in %s: %w", netnsName, err)
	}
	return c, nil
}

// socketIn must run on a locked thread; restored says whether the thread is
// back in its original namespace and may be reused.
func socketIn(netnsName string) (fd int, err error, restored bool) {
	orig, err := netns.Get()
	if err != nil {
		return -1, err, true
	}
	defer orig.Close()
	target, err := netns.GetFromName(netnsName)
	if err != nil {
		return -1, err, true
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return -1, err, true
	}
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if serr := netns.Set(orig); serr != nil {
		if err == nil {
			_ = unix.Close(fd)
		}
		return -1, fmt.Errorf("returning to the original namespace: %w", serr), false
	}
	return fd, err, true
}

func (c *routeCounter) Close() error { return unix.Close(c.fd) }

func (c *routeCounter) String() string {
	return fmt.Sprintf("%s's kernel (protocol %d)", c.netns, c.proto)
}

// Count dumps the routes and counts ours.
func (c *routeCounter) Count() (int, error) {
	c.seq++
	if err := c.sendDump(); err != nil {
		return 0, fmt.Errorf("dumping routes in %s: %w", c.netns, err)
	}
	n := 0
	for {
		got, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return 0, fmt.Errorf("reading routes in %s: %w", c.netns, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:got])
		if err != nil {
			return 0, fmt.Errorf("reading routes in %s: %w", c.netns, err)
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return n, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
						return 0, fmt.Errorf("reading routes in %s: %w", c.netns, syscall.Errno(-errno))
					}
				}
				return 0, fmt.Errorf("reading routes in %s: %w", c.netns, errors.New("netlink error message"))
			case unix.RTM_NEWROUTE:
				if c.ours(m.Data) {
					n++
				}
			}
		}
	}
}

// Holds looks p's address up in the kernel's FIB (RTM_GETROUTE with
// RTM_F_FIB_MATCH, which answers with the route entry the lookup matched)
// and says whether that entry is ours and exactly p: a few µs, whatever the
// table's size. A lookup that matches nothing answers ENETUNREACH: not held.
func (c *routeCounter) Holds(p netip.Prefix) (bool, error) {
	if !p.Addr().Is4() {
		return false, fmt.Errorf("looking up %s in %s: not an IPv4 prefix", p, c.netns)
	}
	c.seq++
	const hdrLen, rtmsgLen, attrLen = unix.SizeofNlMsghdr, unix.SizeofRtMsg, 8
	req := make([]byte, hdrLen+rtmsgLen+attrLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETROUTE)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	rt := req[hdrLen:]
	rt[0] = unix.AF_INET
	rt[1] = 32 // the destination is one address
	binary.NativeEndian.PutUint32(rt[8:], unix.RTM_F_FIB_MATCH)
	attr := rt[rtmsgLen:]
	binary.NativeEndian.PutUint16(attr[0:], attrLen)
	binary.NativeEndian.PutUint16(attr[2:], unix.RTA_DST)
	a := p.Addr().As4()
	copy(attr[4:], a[:])
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("looking up %s in %s: %w", p, c.netns, err)
	}
	for {
		got, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return false, fmt.Errorf("looking up %s in %s: %w", p, c.netns, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:got])
		if err != nil {
			return false, fmt.Errorf("looking up %s in %s: %w", p, c.netns, err)
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				errno := syscall.Errno(0)
				if len(m.Data) >= 4 {
					errno = syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
				}
				if errno == unix.ENETUNREACH || errno == unix.EHOSTUNREACH {
					return false, nil
				}
				return false, fmt.Errorf("looking up %s in %s: %w", p, c.netns, errno)
			case unix.RTM_NEWROUTE:
				dst, bits, ok := c.ourRoute(m.Data)
				return ok && bits == p.Bits() && dst == p.Addr(), nil
			}
		}
	}
}

func (c *routeCounter) sendDump() error {
	const hdrLen, rtmsgLen = unix.SizeofNlMsghdr, unix.SizeofRtMsg
	req := make([]byte, hdrLen+rtmsgLen)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETROUTE)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	rt := req[hdrLen:]
	rt[0] = unix.AF_INET
	rt[4] = unix.RT_TABLE_MAIN
	rt[5] = c.proto
	return unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// ours reads an rtmsg (family, dst_len, src_len, tos, table, protocol, scope,
// type, flags) and its RTA_DST and RTA_TABLE attributes.
func (c *routeCounter) ours(data []byte) bool {
	_, _, ok := c.ourRoute(data)
	return ok
}

// ourRoute is ours, and the route's destination when it is.
func (c *routeCounter) ourRoute(data []byte) (dst netip.Addr, bits int, ok bool) {
	if len(data) < unix.SizeofRtMsg || data[0] != unix.AF_INET || data[5] != c.proto {
		return netip.Addr{}, 0, false
	}
	bits, table := int(data[1]), uint32(data[4])
	for attrs := data[unix.SizeofRtMsg:]; len(attrs) >= 4; {
		l := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:])
		if l < 4 || l > len(attrs) {
			return netip.Addr{}, 0, false
		}
		val := attrs[4:l]
		switch {
		case typ == unix.RTA_DST && len(val) == 4:
			dst = netip.AddrFrom4([4]byte(val))
		case typ == unix.RTA_TABLE && len(val) == 4:
			table = binary.NativeEndian.Uint32(val)
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	ok = table == unix.RT_TABLE_MAIN && dst.IsValid() && bits >= c.within.Bits() && c.within.Contains(dst)
	return dst, bits, ok
}
