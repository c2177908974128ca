package plan

import (
	"net/netip"
	"testing"

	"github.com/nodebgp/router/pkg/bfd"
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
