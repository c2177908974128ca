//go:build e2e

package reflectors

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// bgpSocket is one TCP socket on port 179 as the kernel reports it with
// `ss -tni`: its two ends and the TCP-MD5 keys set on it.
type bgpSocket struct {
	Local, Remote netip.AddrPort
	// MD5Keys are the address prefixes the socket has a TCP-MD5 key for
	// (ss's md5keys:), empty on an unsigned socket.
	MD5Keys []netip.Prefix
}

func (s bgpSocket) String() string {
	keys := "no md5keys"
	if len(s.MD5Keys) > 0 {
		var ks []string
		for _, k := range s.MD5Keys {
			ks = append(ks, k.String())
		}
		keys = "md5keys:" + strings.Join(ks, ",")
	}
	return fmt.Sprintf("%s <-> %s %s", s.Local, s.Remote, keys)
}

// signedFor reports whether the socket has a TCP-MD5 key for addr: the
// kernel then signs every segment to addr and drops every segment from it
// that is unsigned or signed with another key.
func (s bgpSocket) signedFor(addr netip.Addr) bool {
	for _, k := range s.MD5Keys {
		if k.Contains(addr) {
			return true
		}
	}
	return false
}

// bgpSockets reads a namespace's TCP sockets on port 179 in state
// (established, listening) with `ss -Htni`. ss (iproute2 6.1) prints each
// key's bytes with printf, outside the buffer the rest of its output goes
// through, so they land at the very start of stdout: password is cut from
// the output before it is parsed, and so never reaches a log.
func bgpSockets(ctx context.Context, netns, state, password string) ([]bgpSocket, error) {
	out, err := e2eutil.Output(ctx, "ip", "netns", "exec", netns,
		"ss", "-Htni", "state", state, "(", "sport", "=", ":179", "or", "dport", "=", ":179", ")")
	if password != "" {
		out = strings.ReplaceAll(out, password, "")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading TCP sockets: %w", netns, err)
	}
	return parseSockets(netns, out)
}

// parseSockets reads ss -Htni: a line with Recv-Q, Send-Q, local and peer
// address (no State column under a state filter), then a tab-indented line
// of TCP info that has " md5keys:10.199.1.13/32=,..." on a signed socket.
func parseSockets(netns, out string) ([]bgpSocket, error) {
	var socks []bgpSocket
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] == '\t' || line[0] == ' ' {
			if len(socks) == 0 {
				return nil, fmt.Errorf("%s: ss: TCP info before any socket: %q", netns, line)
			}
			keys, err := md5Keys(line)
			if err != nil {
				return nil, fmt.Errorf("%s: ss: %w", netns, err)
			}
			socks[len(socks)-1].MD5Keys = append(socks[len(socks)-1].MD5Keys, keys...)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%s: ss: socket line %q has no addresses", netns, line)
		}
		local, err := parseEnd(f[len(f)-2])
		if err != nil {
			return nil, fmt.Errorf("%s: ss: local address in %q: %w", netns, line, err)
		}
		remote, err := parseEnd(f[len(f)-1])
		if err != nil {
			return nil, fmt.Errorf("%s: ss: peer address in %q: %w", netns, line, err)
		}
		socks = append(socks, bgpSocket{Local: local, Remote: remote})
	}
	return socks, nil
}

// parseEnd reads one end of a socket; a listener's peer is "0.0.0.0:*",
// read as port 0.
func parseEnd(s string) (netip.AddrPort, error) {
	if host, ok := strings.CutSuffix(s, ":*"); ok {
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		return netip.AddrPortFrom(a, 0), err
	}
	return netip.ParseAddrPort(s)
}

// md5Keys reads the prefixes of "md5keys:<addr>/<len>=<key>,..." in a TCP
// info line (the key bytes themselves are printed elsewhere, see
// bgpSockets).
func md5Keys(info string) ([]netip.Prefix, error) {
	_, rest, ok := strings.Cut(info, " md5keys:")
	if !ok {
		return nil, nil
	}
	rest, _, _ = strings.Cut(rest, " ")
	var keys []netip.Prefix
	for _, k := range strings.Split(rest, ",") {
		p, _, _ := strings.Cut(k, "=")
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("md5keys entry %q: %w", p, err)
		}
		keys = append(keys, prefix)
	}
	return keys, nil
}

// md5Unexpected reads the namespace's TcpExtTCPMD5Unexpected counter: TCP
// segments the kernel dropped because they carried an MD5 signature that
// the receiving socket has no key for.
func md5Unexpected(ctx context.Context, netns string) (uint64, error) {
	const counter = "TcpExtTCPMD5Unexpected"
	// -a absolute, -s do not touch nstat's history file, -z zeros too.
	out, err := e2eutil.Output(ctx, "ip", "netns", "exec", netns, "nstat", "-asz", counter)
	if err != nil {
		return 0, fmt.Errorf("%s: reading %s: %w", netns, counter, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == counter {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s %q: %w", netns, counter, f[1], err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%s: nstat shows no %s: %q", netns, counter, out)
}
