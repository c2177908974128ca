package plan

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

// A peer whose BFD failed is held down (AdminDown) until BFD is Up again;
// a failed address whose session has no BFD (any more) is never held.
func TestBFDFailedPeersAreHeldDown(t *testing.T) {
	in := baseInputs()
	in.Settings.MeshBFD = bfd.DefaultTimers
	in.BFDFailed = map[netip.Addr]bool{addr("10.199.1.12"): true}
	p := Build(in)
	held := map[string]bool{}
	for _, peer := range p.Peers {
		if peer.BFD != bfd.DefaultTimers {
			t.Errorf("peer %s: BFD %+v, want --bfd's", peer, peer.BFD)
		}
		held[peer.Address.String()] = peer.AdminDown
	}
	if !held["10.199.1.12"] || held["10.199.1.13"] {
		t.Fatalf("held down: %v, want 10.199.1.12 only", held)
	}

	in.Settings.MeshBFD = bfd.Timers{}
	for _, peer := range Build(in).Peers {
		if peer.AdminDown || peer.BFD != (bfd.Timers{}) {
			t.Errorf("without --bfd, peer %s: AdminDown %v BFD %+v", peer, peer.AdminDown, peer.BFD)
		}
	}
}

// Only node peers guarded by BFD and not held down are redialed; the
// value (may drop stale routes) is carried through.
func TestRedialsAreNodePeersWithBFDNotHeld(t *testing.T) {
	peer := func(a string, kind bgp.PeerKind, timers bfd.Timers, held bool) bgp.Peer {
		return bgp.Peer{Address: addr(a), Kind: kind, BFD: timers, AdminDown: held}
	}
	peers := []bgp.Peer{
		peer("10.199.1.12", bgp.PeerNode, bfd.DefaultTimers, false),
		peer("10.199.1.13", bgp.PeerNode, bfd.DefaultTimers, false),
		peer("10.199.1.14", bgp.PeerNode, bfd.DefaultTimers, true),
		peer("10.199.1.15", bgp.PeerNode, bfd.Timers{}, false),
		peer("10.199.0.1", bgp.PeerUpstream, bfd.DefaultTimers, false),
	}
	ended := map[netip.Addr]bool{}
	for _, p := range peers {
		ended[p.Address] = p.Address == addr("10.199.1.13")
	}
	ended[addr("10.199.1.99")] = false // no peer (any more)
	got := fmt.Sprint(redials(peers, ended))
	if want := "map[10.199.1.12:false 10.199.1.13:true]"; got != want {
		t.Fatalf("redials = %s, want %s", got, want)
	}
	if got := redials(peers, nil); got != nil {
		t.Fatalf("redials of nothing ended = %v", got)
	}
}
