package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/routes"
)

// routeDeletions is a subscription to the kernel's route notifications that
// passes on only one kind: a route of routes.Protocol deleted by someone
// other than the agent's route writer. A socket filter drops every other
// notification inside the kernel, before it is queued: the agent adds and
// deletes up to 100,000 routes of its own at a time, and each write makes a
// notification that the subscription used to receive, parse into a route
// and throw away; a big write overflowed it, and it heard nothing until it
// had subscribed again.
type routeDeletions struct {
	file *os.File
	out  chan netip.Prefix
}

// subscribeRouteDeletions opens the subscription in the calling thread's
// network namespace. ownPort is the netlink port ID of the agent's route
// writer, whose deletions are left out; 0 leaves out none (the writer is not
// open yet), and the agent's record tells its own deletions apart instead.
// The deleted routes' destinations arrive on out, which is closed when the
// subscription ends: stopped, or broken because its socket overflowed.
func subscribeRouteDeletions(ownPort uint32) (*routeDeletions, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink route socket: %w", err)
	}
	prog, err := deletionFilter(ownPort)
	if err == nil {
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attaching the route deletion filter: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribing to route notifications: %w", err)
	}
	// A non-blocking descriptor goes to the runtime's poller, so that Close
	// wakes a reader blocked on it.
	s := &routeDeletions{file: os.NewFile(uintptr(fd), "netlink-route-deletions"), out: make(chan netip.Prefix, 64)}
	go s.read(ownPort)
	return s, nil
}

// read passes deleted destinations on until the socket is closed or fails.
func (s *routeDeletions) read(ownPort uint32) {
	defer close(s.out)
	rc, err := s.file.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil || rerr != nil {
			return // closed, or ENOBUFS: notifications were lost
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for i := range msgs {
			if p, ok := deletedRoute(&msgs[i], ownPort); ok {
				s.out <- p
			}
		}
	}
}

// close ends the subscription; out is closed once the reader is gone.
func (s *routeDeletions) close() { s.file.Close() }

// deletedRoute is what the filter lets through, checked again here so that
// the watch is right whatever the filter does: a deletion of a route of
// routes.Protocol not written by ownPort, and its destination.
func deletedRoute(m *syscall.NetlinkMessage, ownPort uint32) (netip.Prefix, bool) {
	if m.Header.Type != unix.RTM_DELROUTE || len(m.Data) < unix.SizeofRtMsg || (ownPort != 0 && m.Header.Pid == ownPort) {
		return netip.Prefix{}, false
	}
	family, bits, protocol := m.Data[0], int(m.Data[1]), m.Data[5]
	if netlink.RouteProtocol(protocol) != routes.Protocol {
		return netip.Prefix{}, false
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return netip.Prefix{}, false
	}
	var addr netip.Addr
	switch family {
	case unix.AF_INET:
		addr = netip.IPv4Unspecified()
	case unix.AF_INET6:
		addr = netip.IPv6Unspecified()
	default:
		return netip.Prefix{}, false
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.RTA_DST {
			got, ok := netip.AddrFromSlice(a.Value)
			if !ok || got.BitLen() != addr.BitLen() {
				return netip.Prefix{}, false
			}
			addr = got
		}
	}
	p := netip.PrefixFrom(addr, bits)
	return p, p.IsValid()
}

// Offsets into a route notification: the netlink header, then struct rtmsg.
const (
	offMsgType  = 4  // nlmsghdr.nlmsg_type, 16 bits
	offMsgPort  = 12 // nlmsghdr.nlmsg_pid, 32 bits: the writer's port ID
	offProtocol = 16 + 5
)

// deletionFilter is the socket filter for subscribeRouteDeletions: it keeps
// RTM_DELROUTE messages of routes.Protocol whose writer is not ownPort (any,
// when ownPort is 0) and drops the rest. The header's fields are in the
// host's byte order; the filter's loads read network order, so the values it
// compares with are the host's bytes read that way.
func deletionFilter(ownPort uint32) (*unix.SockFprog, error) {
	raw, err := bpf.Assemble(deletionProgram(ownPort))
	if err != nil {
		return nil, err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}, nil
}

func deletionProgram(ownPort uint32) []bpf.Instruction {
	var typ [2]byte
	binary.NativeEndian.PutUint16(typ[:], unix.RTM_DELROUTE)
	var port [4]byte
	binary.NativeEndian.PutUint32(port[:], ownPort)
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offMsgType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(binary.BigEndian.Uint16(typ[:])), SkipTrue: 5},
		bpf.LoadAbsolute{Off: offProtocol, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(routes.Protocol), SkipTrue: 3},
		bpf.LoadAbsolute{Off: offMsgPort, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(port[:]), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff_ffff}, // keep the whole message
		bpf.RetConstant{Val: 0},           // drop
	}
	if ownPort == 0 {
		// No writer to leave out (the kernel's own deletions carry port 0):
		// the port's test becomes a jump to the next instruction.
		prog[5] = bpf.Jump{Skip: 0}
	}
	return prog
}
