package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// sessionEndpoints identifies the TCP connections of this speaker's
// sessions among all of the process's sockets.
type sessionEndpoints struct {
	// listen is where BGP accepts connections (any address when
	// unspecified), one entry per listen address; empty when not listening.
	listen []netip.AddrPort
	// peers holds each neighbor's address and BGP port.
	peers map[netip.AddrPort]bool
}

// isSession tells whether a connected TCP socket carries a session: one
// we dialed goes to a neighbor's BGP port; one we accepted arrived on our
// listener from a neighbor's address. Nothing else of the agent (the
// Kubernetes API, gRPC API clients) uses these endpoint pairs.
func (e sessionEndpoints) isSession(local, remote netip.AddrPort) bool {
	if e.peers[remote] {
		return true
	}
	if !slices.ContainsFunc(e.listen, func(l netip.AddrPort) bool {
		return local.Port() == l.Port() && (l.Addr().IsUnspecified() || local.Addr() == l.Addr())
	}) {
		return false
	}
	for p := range e.peers {
		if p.Addr() == remote.Addr() {
			return true
		}
	}
	return false
}

// severSessions shuts down (both directions) every socket of this process
// that isSession picks, without closing the descriptors: their owner,
// GoBGP, closes them. The peer sees a FIN, and later writes fail locally.
// It returns how many sockets it shut down.
func severSessions(e sessionEndpoints) (int, error) {
	if len(e.peers) == 0 {
		return 0, nil
	}
	const fdDir = "/proc/self/fd"
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", fdDir, err)
	}
	var errs []error
	n := 0
	for _, ent := range entries {
		fd, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		severed, err := severIfSession(fd, e)
		if err != nil {
			errs = append(errs, err)
		}
		if severed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// severIfSession inspects descriptor fd through a duplicate, so that a
// descriptor closed and reused meanwhile is never mistaken for another
// socket: the duplicate pins the socket it refers to.
func severIfSession(fd int, e sessionEndpoints) (bool, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false, nil // closed since the directory was read
	}
	defer unix.Close(dup)
	if typ, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return false, nil // not a socket, or not TCP
	}
	lsa, err := unix.Getsockname(dup)
	if err != nil {
		return false, nil
	}
	rsa, err := unix.Getpeername(dup)
	if err != nil {
		return false, nil // a listener, or not connected yet
	}
	local, lok := sockaddrAddrPort(lsa)
	remote, rok := sockaddrAddrPort(rsa)
	if !lok || !rok || !e.isSession(local, remote) {
		return false, nil
	}
	if err := unix.Shutdown(dup, unix.SHUT_RDWR); err != nil && !errors.Is(err, unix.ENOTCONN) {
		return false, fmt.Errorf("shutting down BGP session %s -> %s: %w", local, remote, err)
	}
	return true, nil
}

func sockaddrAddrPort(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}
