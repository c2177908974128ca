package peering

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The flags ParseGlobalPeers reads, named in its errors.
const (
	FlagPeerIPs            = "--peer-router-ips"
	FlagPeerASNs           = "--peer-router-asns"
	FlagPeerPorts          = "--peer-router-ports"
	FlagPeerMultihopTTL    = "--peer-router-multihop-ttl"
	FlagPeerPasswordSecret = "--peer-router-password-secret"
)

// ParseGlobalPeers reads the upstream peers every node has. ASNs come one per
// IP or one for all; ports and multihop TTLs likewise, or not at all. The
// password Secret ("namespace/name") holds one key per peer, named after the
// peer's address (IPv6 colons as dashes). Every problem is reported, each
// naming the flag and index.
func ParseGlobalPeers(ips, asns, ports, multihopTTLs []string, passwordSecret string) ([]UpstreamPeer, error) {
	var errs []error
	if len(ips) == 0 {
		for _, f := range []struct {
			name string
			set  bool
		}{{FlagPeerASNs, len(asns) > 0}, {FlagPeerPorts, len(ports) > 0}, {FlagPeerMultihopTTL, len(multihopTTLs) > 0}, {FlagPeerPasswordSecret, passwordSecret != ""}} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s: set without %s", f.name, FlagPeerIPs))
			}
		}
		return nil, errors.Join(errs...)
	}
	var secret SecretRef
	if passwordSecret != "" {
		ref, err := parseSecretRef(passwordSecret, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", FlagPeerPasswordSecret, err))
		}
		secret = ref
	}

	peers := make([]UpstreamPeer, len(ips))
	seen := map[string]int{}
	for i, s := range ips {
		a, err := parsePeerAddress(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", FlagPeerIPs, i, err))
			continue
		}
		if j, dup := seen[a.String()]; dup {
			errs = append(errs, fmt.Errorf("%s[%d]: %s is already %s[%d]", FlagPeerIPs, i, a, FlagPeerIPs, j))
		}
		seen[a.String()] = i
		peers[i].Address = a
		peers[i].Port = DefaultPort
		if !secret.IsZero() {
			peers[i].PasswordSecret = secret
			peers[i].PasswordSecret.Key = defaultPasswordKey(a)
		}
	}

	errs = append(errs, perPeer(FlagPeerASNs, asns, len(ips), true, func(i int, s string) error {
		asn, ok := parseASN(s)
		if !ok {
			return fmt.Errorf("%q is not a valid ASN", s)
		}
		peers[i].ASN = asn
		return nil
	})...)
	errs = append(errs, perPeer(FlagPeerPorts, ports, len(ips), false, func(i int, s string) error {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil || v == 0 {
			return fmt.Errorf("%q is not a port (1..65535)", s)
		}
		peers[i].Port = uint16(v)
		return nil
	})...)
	errs = append(errs, perPeer(FlagPeerMultihopTTL, multihopTTLs, len(ips), false, func(i int, s string) error {
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return fmt.Errorf("%q is not a TTL (0..255)", s)
		}
		peers[i].MultihopTTL = uint8(v)
		return nil
	})...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return peers, nil
}

// perPeer applies a per-peer flag given once per IP or once for all; set
// stores value s for peer i. Errors name the flag and the value's index.
func perPeer(flag string, vals []string, n int, required bool, set func(i int, s string) error) []error {
	switch {
	case len(vals) == 0 && !required:
		return nil
	case len(vals) != 1 && len(vals) != n:
		return []error{fmt.Errorf("%s: %d values for %d %s (give one per IP, or one for all)", flag, len(vals), n, FlagPeerIPs)}
	}
	var errs []error
	for i := range n {
		idx := i
		if len(vals) == 1 {
			idx = 0
		}
		if err := set(i, strings.TrimSpace(vals[idx])); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", flag, idx, err))
			if len(vals) == 1 {
				return errs // the one shared value is reported once
			}
		}
	}
	return errs
}

// FlagPeerBFD turns BFD on for the --peer-router-ips peers.
const FlagPeerBFD = "--peer-router-bfd"

// SetGlobalPeersBFD reads --peer-router-bfd, one boolean per IP or one for
// all, into peers (from ParseGlobalPeers). A peer with BFD gets the
// --bfd-min-tx, --bfd-min-rx and --bfd-multiplier timers.
func SetGlobalPeersBFD(peers []UpstreamPeer, vals []string) error {
	if len(peers) == 0 {
		if len(vals) > 0 {
			return fmt.Errorf("%s: set without %s", FlagPeerBFD, FlagPeerIPs)
		}
		return nil
	}
	return errors.Join(perPeer(FlagPeerBFD, vals, len(peers), false, func(i int, s string) error {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		peers[i].BFD = PeerBFD{Enabled: on}
		return nil
	})...)
}
