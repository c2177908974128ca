package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRedialDecision(t *testing.T) {
	dropped := &api.Timers{State: &api.TimersState{Uptime: timestamppb.New(time.Unix(1_700_000_000, 0))}}
	peer := func(admin api.PeerState_AdminState, session api.PeerState_SessionState, timers *api.Timers, restarting bool) *api.Peer {
		return &api.Peer{
			State:           &api.PeerState{AdminState: admin, SessionState: session},
			Timers:          timers,
			GracefulRestart: &api.GracefulRestart{PeerRestarting: restarting},
		}
	}
	up, down := api.PeerState_UP, api.PeerState_DOWN
	for _, tc := range []struct {
		name      string
		peer      *api.Peer
		dropStale bool
		want      redialVerdict
	}{
		{"idle after a drop", peer(up, api.PeerState_IDLE, dropped, false), false, redialNow},
		{"idle after a drop, stale routes may go", peer(up, api.PeerState_IDLE, dropped, false), true, redialNow},
		{"the drop not recorded yet", peer(up, api.PeerState_ESTABLISHED, dropped, false), false, redialNotYet},
		{"held down by us", peer(down, api.PeerState_IDLE, dropped, false), true, redialNo},
		{"a fresh neighbor leaves idle at once", peer(up, api.PeerState_IDLE, &api.Timers{State: &api.TimersState{Uptime: timestamppb.New(time.Unix(0, 0))}}, false), false, redialNo},
		{"already dialing", peer(up, api.PeerState_ACTIVE, dropped, false), false, redialNo},
		{"opening", peer(up, api.PeerState_OPENSENT, dropped, false), false, redialNo},
		{"restarting peer keeps its stale routes", peer(up, api.PeerState_IDLE, dropped, true), false, redialNo},
		{"restarting peer whose path failed", peer(up, api.PeerState_IDLE, dropped, true), true, redialNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redialDecision(tc.peer, tc.dropStale); got != tc.want {
				t.Fatalf("redialDecision = %d, want %d", got, tc.want)
			}
		})
	}
}

// apiPeer is GoBGP's view of n's neighbor of.
func (n *node) apiPeer(t *testing.T, of *node) *api.Peer {
	t.Helper()
	var out *api.Peer
	err := n.speaker.server.ListPeer(testContext(t), &api.ListPeerRequest{Address: of.peer.Address.String()}, func(p *api.Peer) { out = p })
	if err != nil || out == nil {
		t.Fatalf("%s: neighbor %s: %v (found %t)", n.name, of.name, err, out != nil)
	}
	return out
}

// The failed node's side of a node-link fault: the other node held the
// session down (BFD), and its Hard Reset ends the session here, where BFD
// is Up. GoBGP ends it itself and holds the neighbor idle for 5 s,
// refusing the other side's dial; redialing re-creates the neighbor, which
// takes the session back at once. The next pass changes nothing.
func TestRedialTakesASessionEndedByThePeersHardResetOutOfTheIdleHold(t *testing.T) {
	ended := make(chan netip.Addr, 8)
	bcfg := nodeConfig(t, "node-b", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	bcfg.OnSessionDown = func(p netip.Addr) { ended <- p }
	a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	b := startNodeConfig(t, "node-b", bcfg)
	a.setPeers(t, b.peer)
	b.setPeers(t, a.peer)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	fromA := path("10.244.1.0/24", testNextHopA)
	waitPath(t, b, fromA, true)

	a.setPeers(t, with(b.peer, func(p *Peer) { p.AdminDown = true }))
	select {
	case p := <-ended:
		if p != a.peer.Address {
			t.Fatalf("OnSessionDown heard %s, want %s", p, a.peer.Address)
		}
	case <-time.After(waitTimeout):
		t.Fatal("OnSessionDown never heard the session end")
	}
	waitFor(t, b.name+" to hold "+a.name+" idle after the drop", func() (bool, string) {
		v := redialDecision(b.apiPeer(t, a), false)
		return v == redialNow, b.apiPeer(t, a).GetState().String()
	})
	a.setPeers(t, b.peer) // a's BFD is Up again: the hold is lifted

	b.calls.reset()
	b.desired.Redial = map[netip.Addr]bool{a.peer.Address: false}
	b.apply(t) // and a second pass must change nothing
	b.desired.Redial = nil
	start := time.Now()
	// Without the redial, b's neighbor stays idle for GoBGP's 5 s.
	waitFor(t, b.name+"'s neighbor "+a.name+" to leave idle", func() (bool, string) {
		st := b.apiPeer(t, a).GetState()
		return st.GetSessionState() != api.PeerState_IDLE, st.String()
	})
	if left := time.Since(start); left > 2*time.Second {
		t.Errorf("%s's neighbor left idle %s after the redial: not re-created?", b.name, left)
	}
	waitEstablished(t, b, a)
	waitPath(t, b, fromA, true)
	t.Logf("redial -> Established and the route back: %s", time.Since(start).Round(time.Millisecond))
}

// A peer that restarts gracefully (its agent stops: TCP closed, no Cease)
// leaves its routes here as stale: a redial that may not drop them leaves
// the neighbor alone, so a planned restart loses nothing; one whose BFD
// failed (dropStale) drops them with the neighbor.
func TestRedialKeepsAGracefullyRestartingPeersStaleRoutesUnlessItsPathFailed(t *testing.T) {
	a, b, fromB := startGRPairBAdvertising(t)

	b.speaker.Stop()
	waitFor(t, a.name+" to hold "+b.name+" as restarting", func() (bool, string) {
		ap := a.apiPeer(t, b)
		return ap.GetGracefulRestart().GetPeerRestarting() && ap.GetState().GetSessionState() == api.PeerState_IDLE, ap.GetState().String()
	})

	a.calls.reset()
	if err := a.speaker.Apply(testContext(t), Desired{Policy: a.desired.Policy, Peers: a.desired.Peers, Advertised: a.desired.Advertised,
		Redial: map[netip.Addr]bool{b.peer.Address: false}}).Err(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if calls := a.calls.reset(); len(calls) != 0 {
		t.Fatalf("a redial that may not drop stale routes changed GoBGP: %q", calls)
	}
	if paths := a.bestPaths(t); !slices.Contains(paths, fromB) {
		t.Fatalf("%s dropped the restarting %s's route: %v", a.name, b.name, paths)
	}

	if err := a.speaker.Apply(testContext(t), Desired{Policy: a.desired.Policy, Peers: a.desired.Peers, Advertised: a.desired.Advertised,
		Redial: map[netip.Addr]bool{b.peer.Address: true}}).Err(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := []string{"DeletePeer " + b.peer.Address.String(), "AddPeer " + b.peer.Address.String()}
	if calls := a.calls.reset(); !slices.Equal(calls, want) {
		t.Fatalf("a redial whose path failed: calls %q, want %q", calls, want)
	}
	waitPath(t, a, fromB, false)
}
