package bfd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Port is the UDP port of single-hop BFD Control packets (RFC 5881 §4).
const Port = 3784

// The source ports of our packets (RFC 5881 §4: 49152-65535).
const (
	minSourcePort = 49152
	maxSourcePort = 65535
)

// ttl is the TTL (hop limit) of every packet we send, and the only one we
// accept (RFC 5881 §5, GTSM): a packet with 255 cannot have crossed a router.
const ttl = 255

// rcvBuf is the receive buffer of the listening sockets: a burst of one
// peer should not fill it for the others.
const rcvBuf = 1 << 20

// listen opens the receiving socket of a family on port: IP_RECVTTL (or
// IPV6_RECVHOPLIMIT) so that every packet's TTL can be checked, and
// IP_PKTINFO (IPV6_RECVPKTINFO) for its destination address; IPv6 only on
// the IPv6 socket.
func listen(ctx context.Context, v6 bool, port int) (*net.UDPConn, error) {
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", port)
	if v6 {
		network, addr = "udp6", fmt.Sprintf("[::]:%d", port)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if v6 {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1),
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1),
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1))
			} else {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTTL, 1),
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1))
			}
			// Best effort: the kernel caps it at net.core.rmem_max.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s %s: %w", network, addr, err)
	}
	return pc.(*net.UDPConn), nil
}

// control is what a received packet's control messages say.
type control struct {
	ttl    int
	hasTTL bool
	dst    netip.Addr // the packet's destination address; zero if unknown
}

// parseControl reads the TTL (or hop limit) and the destination address
// from a packet's control messages. It walks them in place
// (ParseOneSocketControlMessage): ParseSocketControlMessage would allocate
// a slice for every packet.
func parseControl(oob []byte) control {
	var out control
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return out
		}
		oob = rest
		switch {
		case (h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL) ||
			(h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT):
			// An int in host byte order.
			if len(data) >= 4 {
				out.ttl, out.hasTTL = int(binary.NativeEndian.Uint32(data[:4])), true
			}
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			if len(data) >= 12 {
				out.dst = netip.AddrFrom4([4]byte(data[8:12]))
			}
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO:
			// struct in6_pktinfo { in6_addr addr; int ifindex; }
			if len(data) >= 16 {
				out.dst = netip.AddrFrom16([16]byte(data[:16]))
			}
		}
	}
	return out
}

// dial opens a session's sending socket: from local (when valid) and a free
// source port in 49152-65535, TTL 255, connected to the peer's port.
func dial(ctx context.Context, local, remote netip.Addr, port int) (*net.UDPConn, error) {
	network := "udp4"
	if remote.Is6() {
		network = "udp6"
	}
	control := func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if remote.Is6() {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
			}
		})
		return errors.Join(err, serr)
	}
	var lastErr error
	// A random start and a bounded walk: ports in use (other sessions,
	// other programs) are skipped.
	start := rand.IntN(maxSourcePort - minSourcePort + 1)
	for i := 0; i < 64; i++ {
		sport := minSourcePort + (start+i*7919)%(maxSourcePort-minSourcePort+1)
		d := net.Dialer{Control: control, LocalAddr: &net.UDPAddr{IP: local.AsSlice(), Port: sport}}
		if !local.IsValid() {
			d.LocalAddr = &net.UDPAddr{Port: sport}
		}
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(remote, uint16(port)).String())
		if err == nil {
			return c.(*net.UDPConn), nil
		}
		lastErr = err
		if !errors.Is(err, unix.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("opening a BFD socket from %s to %s: %w", local, remote, lastErr)
}
