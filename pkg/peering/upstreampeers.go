package peering

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

// upstreamPeers are the sessions with routers outside the cluster: the
// global peers and this node's own, where the node's annotation wins for an
// address both name (a rack's ToR may need settings of its own).
func upstreamPeers(in Inputs) ([]bgp.Peer, []error) {
	merged := make([]UpstreamPeer, 0, len(in.GlobalPeers)+len(in.SelfConfig.Peers))
	index := map[netip.Addr]int{}
	for _, list := range [][]UpstreamPeer{in.GlobalPeers, in.SelfConfig.Peers} {
		for _, u := range list {
			if i, ok := index[u.Address]; ok {
				merged[i] = u
				continue
			}
			index[u.Address] = len(merged)
			merged = append(merged, u)
		}
	}

	var peers []bgp.Peer
	var problems []error
	for _, u := range merged {
		if u.Address == in.Self.InternalIP {
			problems = append(problems, fmt.Errorf("node %q: upstream peer %s: is this node's own address; peer skipped", in.Self.Name, u.Address))
			continue
		}
		password, err := resolvePassword(in.Passwords, u.PasswordSecret)
		if err != nil {
			problems = append(problems, fmt.Errorf("node %q: upstream peer %s: password from Secret %s: %w; peer skipped",
				in.Self.Name, u.Address, u.PasswordSecret, err))
			continue
		}
		maxPrefixes := in.DefaultMaxPrefixes
		if u.MaxPrefixesSet {
			maxPrefixes = u.MaxPrefixes
		}
		peers = append(peers, bgp.Peer{
			Address:       u.Address,
			ASN:           u.ASN,
			Port:          u.Port,
			Kind:          bgp.PeerUpstream,
			LocalAddress:  u.LocalAddress,
			MultihopTTL:   u.MultihopTTL,
			HoldTime:      u.HoldTime,
			KeepaliveTime: u.KeepaliveTime,
			ConnectRetry:  u.ConnectRetryTime,
			Password:      password,
			MaxPrefixes:   maxPrefixes,
			BFD:           u.BFD.resolve(in.BFDDefaults),
		})
	}
	return peers, problems
}

// PeerBFD is an upstream peer's BFD setting: off, or on with timers, each
// left zero taken from the --bfd-* flags.
type PeerBFD struct {
	Enabled bool
	Timers  bfd.Timers
}

func (b PeerBFD) resolve(defaults bfd.Timers) bfd.Timers {
	if !b.Enabled {
		return bfd.Timers{}
	}
	t := b.Timers
	if t.MinTx == 0 {
		t.MinTx = defaults.MinTx
	}
	if t.MinRx == 0 {
		t.MinRx = defaults.MinRx
	}
	if t.Multiplier == 0 {
		t.Multiplier = defaults.Multiplier
	}
	return t
}

func resolvePassword(resolve func(SecretRef) (string, error), ref SecretRef) (string, error) {
	if ref.IsZero() {
		return "", nil
	}
	if resolve == nil {
		return "", errors.New("no way to read Secrets")
	}
	return resolve(ref)
}
