package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// startGRPairBAdvertising starts two graceful-restart speakers, a dialing b
// (b passive, the higher address), and returns once a holds b's route fromB.
func startGRPairBAdvertising(t *testing.T) (a, b *node, fromB Path) {
	t.Helper()
	a = startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	b = startNode(t, "node-b", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	a.setPeers(t, b.peer)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Passive = true }))
	b.advertise(t, testNextHopB, "10.244.2.0/24")
	fromB = path("10.244.2.0/24", testNextHopB)
	waitPath(t, a, fromB, true)
	return a, b, fromB
}

// A peer set AdminDown (BFD said the path failed) loses its session with a
// Cease at once: both sides drop the other's routes even though both are
// graceful-restart helpers, nothing re-establishes while it is held, and
// once both sides lift it (as both BFDs come Up) the session is back in
// seconds, not after GoBGP's idle holds.
func TestAdminDownEndsTheSessionWithoutGracefulRestartAndLiftingItReturnsFast(t *testing.T) {
	a, b, fromB := startGRPairBAdvertising(t)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	fromA := path("10.244.1.0/24", testNextHopA)
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
	// The Cease went out before the neighbor was added again held down,
	// and what we noted about the session survived that.
	if !strings.Contains(st.LastError, "sent notification") {
		t.Errorf("held down, LastError %q does not tell of the Cease", st.LastError)
	}

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

// A peer whose session ended without a Cease (its agent crashed: TCP
// closed) has its routes kept as stale by us, a graceful-restart helper.
// When BFD then says the path failed, holding it down drops them at once
// instead of leaving them for its restart time: GoBGP's DisablePeer alone
// leaves a neighbor in Idle restarting (GoBGP v3.37.0, fsm.go:478).
func TestAdminDownDropsRoutesKeptForARestartingPeer(t *testing.T) {
	a, b, fromB := startGRPairBAdvertising(t)

	b.speaker.Stop()
	waitFor(t, a.name+" to see the session to "+b.name+" drop", func() (bool, string) {
		st, _ := a.peerStatus(t, b)
		return st.State != StateEstablished, st.State
	})
	// GoBGP holds the dropped session in Idle for 5 s: BFD (a detection
	// time of about a second) speaks before that.
	if paths := a.bestPaths(t); !slices.Contains(paths, fromB) {
		t.Fatalf("%s dropped %s when %s stopped: not a graceful-restart helper? %v", a.name, fromB, b.name, paths)
	}

	start := time.Now()
	a.setPeers(t, with(b.peer, func(p *Peer) { p.AdminDown = true }))
	// waitPath gives up after waitTimeout, before testRestart would drop them.
	waitPath(t, a, fromB, false)
	took := time.Since(start)
	t.Logf("AdminDown -> stale route gone: %s", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("%s kept %s's stale route %s after holding it down", a.name, b.name, took)
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
