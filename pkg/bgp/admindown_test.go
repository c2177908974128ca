package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// A peer set AdminDown (BFD said the path failed) loses its session with a
// Cease at once: both sides drop the other's routes even though both are
// graceful-restart helpers, nothing re-establishes while it is held, and
// once both sides lift it (as both BFDs come Up) the session is back in
// seconds, not after GoBGP's idle holds.
func TestAdminDownEndsTheSessionWithoutGracefulRestartAndLiftingItReturnsFast(t *testing.T) {
	a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	b := startNode(t, "node-b", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	a.setPeers(t, b.peer)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Passive = true }))
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	b.advertise(t, testNextHopB, "10.244.2.0/24")
	fromA, fromB := path("10.244.1.0/24", testNextHopA), path("10.244.2.0/24", testNextHopB)
	waitPath(t, a, fromB, true)
	waitPath(t, b, fromA, true)

	start := time.Now()
	a.setPeers(t, with(b.peer, func(p *Peer) { p.AdminDown = true }))
	waitPath(t, a, fromB, false)
	t.Logf("AdminDown -> peer's route gone on our side: %s", time.Since(start).Round(time.Millisecond))
	// The peer got a Hard Reset: it drops ours too instead of keeping them
	// as a graceful-restart helper would (for testRestart, 30 s).
	waitPath(t, b, fromA, false)
	took := time.Since(start)
	t.Logf("AdminDown -> our route gone at the peer: %s", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the peer kept our route %s after the Cease: treated as a graceful restart?", took)
	}
	if calls := a.calls.reset(); len(calls) != 0 {
		t.Errorf("calls after setPeers: %q", calls)
	}
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Passive = true; p.AdminDown = true }))

	// Held: b would accept, a must neither dial nor accept.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		if st, _ := a.peerStatus(t, b); st.State == StateEstablished {
			t.Fatalf("the session came back while held down: %+v", st)
		}
	}
	st, _ := a.peerStatus(t, b)
	t.Logf("held down: %+v", st)

	start = time.Now()
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Passive = true }))
	a.setPeers(t, b.peer)
	waitEstablished(t, a, b)
	back := time.Since(start)
	waitPath(t, a, fromB, true)
	t.Logf("lifted -> Established: %s, routes back: %s", back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// GoBGP's first dial waits 1-2 s; an EnablePeer would add its 5 s idle
	// hold (30 s after a reset) on top.
	if back > 4*time.Second {
		t.Errorf("lifted -> Established took %s, want under 4s", back)
	}
}

// diffPeers: holding a peer down is a DisablePeer; lifting it, or holding
// it down together with a change that needs a new neighbor or an update,
// adds the neighbor again in the wanted state.
func TestDiffPeersAdminDown(t *testing.T) {
	base := Peer{Name: "n2", Address: netip.MustParseAddr("10.199.1.12"), ASN: 64512, Port: 179}
	down := with(base, func(p *Peer) { p.AdminDown = true })
	for _, tc := range []struct {
		name                       string
		cur, want                  Peer
		disable, recreate, updated bool
	}{
		{"hold down", base, down, true, false, false},
		{"lift", down, base, false, true, false},
		{"held stays held", down, down, false, false, false},
		{"hold down and new hold time", base, with(down, func(p *Peer) { p.HoldTime = 9 * time.Second }), false, true, false},
		{"held, new hold time", down, with(down, func(p *Peer) { p.HoldTime = 9 * time.Second }), false, false, true},
		{"BFD timers are not GoBGP's", base, with(base, func(p *Peer) { p.BFD.Multiplier = 3 }), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diffPeers([]Peer{tc.want}, []Peer{tc.cur})
			got := fmt.Sprint(len(d.disable) == 1, len(d.recreate) == 1, len(d.update) == 1)
			if want := fmt.Sprint(tc.disable, tc.recreate, tc.updated); got != want || len(d.add)+len(d.remove) != 0 {
				t.Fatalf("diff %+v: disable/recreate/update %s, want %s", d, got, want)
			}
			if len(d.disable) == 1 && !d.disable[0].AdminDown {
				t.Fatalf("disable %+v", d.disable)
			}
		})
	}
}
