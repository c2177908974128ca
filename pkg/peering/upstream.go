package peering

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultPort is the BGP port of an upstream peer that names none.
const DefaultPort = 179

// UpstreamPeer is a router outside the cluster (typically a ToR switch) that
// this node peers with, from the agent's flags or the nodebgp.io/peers
// annotation.
type UpstreamPeer struct {
	Address netip.Addr
	ASN     uint32
	Port    uint16
	// MultihopTTL: 0 = directly connected.
	MultihopTTL uint8
	// HoldTime and KeepaliveTime: 0 = the speaker's defaults.
	HoldTime, KeepaliveTime time.Duration
	// ConnectRetryTime is the pause between attempts to open the session:
	// 0 = the speaker's default (5s).
	ConnectRetryTime time.Duration
	// PasswordSecret holds the TCP-MD5 password; zero = no password.
	PasswordSecret SecretRef
	// LocalAddress sources the session; zero = the speaker's choice.
	LocalAddress netip.Addr
	// MaxPrefixes: 0 = no limit. Unless MaxPrefixesSet (the annotation
	// named it), the default for upstream peers applies instead
	// (Inputs.DefaultMaxPrefixes).
	MaxPrefixes    uint32
	MaxPrefixesSet bool
	// BFD guards the session with BFD (--peer-router-bfd, or "bfd" in
	// nodebgp.io/peers).
	BFD PeerBFD
}

// SecretRef names one key of a Kubernetes Secret.
type SecretRef struct{ Namespace, Name, Key string }

// IsZero reports whether r refers to no Secret.
func (r SecretRef) IsZero() bool { return r == SecretRef{} }

func (r SecretRef) String() string {
	return fmt.Sprintf("%s/%s key %q", r.Namespace, r.Name, r.Key)
}

// ParseSecretRef reads a "namespace/name" flag value; key is the data key to use.
func ParseSecretRef(s, key string) (SecretRef, error) { return parseSecretRef(s, key) }

// parseSecretRef reads "namespace/name" with the key to use in it.
func parseSecretRef(s, key string) (SecretRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return SecretRef{}, fmt.Errorf("%q is not a Secret reference (namespace/name)", s)
	}
	return SecretRef{Namespace: ns, Name: name, Key: key}, nil
}

// defaultPasswordKey is the key that holds a peer's password when none is
// named, so one Secret can hold one password per peer: the peer's address,
// with an IPv6 address's colons as dashes because Secret keys cannot hold
// colons (fd00::1 → fd00--1).
func defaultPasswordKey(addr netip.Addr) string {
	return strings.ReplaceAll(addr.String(), ":", "-")
}

// validPasswordKey reports whether key may name a Secret's data key.
func validPasswordKey(key string) bool {
	return len(validation.IsConfigMapKey(key)) == 0
}

// parsePeerAddress reads a peer or local address: a plain unicast IP.
func parsePeerAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%q is not a usable IP address", s)
	}
	return a.Unmap(), nil
}
