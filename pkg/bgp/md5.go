package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// errMD5Unavailable wraps the reason TCP-MD5 cannot be enforced here.
var errMD5Unavailable = errors.New("TCP-MD5 cannot be set on this process's listening sockets")

// probeListenerMD5 tells whether TCP-MD5 keys can be set on a listening
// socket made the way GoBGP makes its listeners (a default
// net.ListenConfig) on addr.
//
// Since Go 1.24 such listeners are MPTCP sockets where the kernel supports
// MPTCP, and MPTCP refuses TCP_MD5SIG (ENOPROTOOPT). GoBGP then only logs
// "failed to set md5" and accepts sessions from the peer without any
// authentication, while its own dialled connections do carry the key. The
// process must run with GODEBUG=multipathtcp=0 (//go:debug
// multipathtcp=0 in package main) for passwords to mean anything.
func probeListenerMD5(addr netip.Addr) error {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return fmt.Errorf("%w: probe listener on %s: %w", errMD5Unavailable, addr, err)
	}
	defer l.Close()
	sc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: %w", errMD5Unavailable, err)
	}
	sig := unix.TCPMD5Sig{Keylen: 1}
	if addr.Is4() {
		sig.Addr.Family = unix.AF_INET
		a := addr.As4()
		copy(sig.Addr.Data[2:], a[:])
	} else {
		sig.Addr.Family = unix.AF_INET6
		a := addr.As16()
		copy(sig.Addr.Data[6:], a[:])
	}
	var sockErr error
	if err := sc.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
	}); err != nil {
		return fmt.Errorf("%w: %w", errMD5Unavailable, err)
	}
	if sockErr != nil {
		mptcp := ""
		if lc.MultipathTCP() {
			mptcp = " (listeners are MPTCP: run with GODEBUG=multipathtcp=0)"
		}
		return fmt.Errorf("%w: %w%s", errMD5Unavailable, sockErr, mptcp)
	}
	return nil
}
