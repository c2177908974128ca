package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

// fakeBFD keeps the sessions it was given.
type fakeBFD struct {
	t     *testing.T
	peers []bfd.Peer
	sets  int
}

func (f *fakeBFD) Set(peers []bfd.Peer) error {
	f.sets++
	seen := map[netip.Addr]bool{}
	for _, p := range peers {
		if seen[p.Address] {
			f.t.Errorf("BFD: peer %s set twice", p.Address)
		}
		seen[p.Address] = true
		if !p.Local.IsValid() {
			f.t.Errorf("BFD: peer %s without a local address", p.Address)
		}
	}
	f.peers = peers
	return nil
}

func (f *fakeBFD) Status() []bfd.Status {
	var out []bfd.Status
	for _, p := range f.peers {
		out = append(out, bfd.Status{Peer: p.Address, State: bfd.Up})
	}
	return out
}

func (f *fakeBFD) Drops() map[string]uint64 { return map[string]uint64{bfd.DropTTL: 1} }

// held is which of the speaker's peers are held down, by address.
func (ta *testAgent) held() map[string]bool {
	out := map[string]bool{}
	for _, p := range ta.speaker.desired.Peers {
		out[p.Address.String()] = p.AdminDown
	}
	return out
}

// Only an Up -> Down that is no AdminDown of the peer holds a BGP session
// down; the BFD-only pass that takes it down touches nothing but the
// speaker; it is lifted when BFD is Up again, and forgotten when the peer
// has BFD no more.
func TestBFDFailureHoldsTheSessionDownUntilBFDIsUpAgain(t *testing.T) {
	ta := newTestAgent(t)
	ta.agent.cfg.BFD = true
	fb := &fakeBFD{t: t}
	ta.agent.bfd = fb
	ctx := context.Background()
	ta.nodePass(t)
	if len(fb.peers) != 2 || fb.peers[0].Local != netip.MustParseAddr("10.199.1.11") || fb.peers[0].Timers != bfd.DefaultTimers {
		t.Fatalf("BFD sessions %+v, want n2 and n3 from our node IP with the default timers", fb.peers)
	}
	n2 := netip.MustParseAddr("10.199.1.12")
	poked := func() bool {
		select {
		case <-ta.agent.bfdChanged:
			return true
		default:
			return false
		}
	}
	event := func(from, to bfd.State, remote bfd.State) {
		ta.agent.onBFDChange(bfd.Event{Peer: n2, Transition: bfd.Transition{From: from, To: to, RemoteState: remote}})
	}

	// Coming up at start holds nothing and asks for no pass.
	event(bfd.Down, bfd.Init, bfd.Down)
	event(bfd.Init, bfd.Up, bfd.Init)
	if poked() {
		t.Fatal("a session coming Up for the first time poked the node loop")
	}
	// The peer stops BFD on purpose (a planned restart): no failure.
	event(bfd.Up, bfd.Down, bfd.AdminDown)
	if poked() {
		t.Fatal("the peer's AdminDown was taken as a failure")
	}
	event(bfd.Down, bfd.Up, bfd.Init)

	// The path fails.
	event(bfd.Up, bfd.Down, bfd.Down)
	if !poked() {
		t.Fatal("a BFD failure did not poke the node loop")
	}
	before := ta.calls() - ta.speaker.calls
	if err := ta.agent.bfdPass(ctx); err != nil {
		t.Fatal(err)
	}
	if h := ta.held(); !h["10.199.1.12"] || h["10.199.1.13"] {
		t.Fatalf("held after the failure: %v, want 10.199.1.12 only", h)
	}
	if after := ta.calls() - ta.speaker.calls; after != before {
		t.Errorf("the BFD pass called the host, firewall, CNI or kernel %d times", after-before)
	}
	// A full pass keeps it held, and so does a session that gets to Init only.
	ta.nodePass(t)
	event(bfd.Down, bfd.Init, bfd.Down)
	if poked() {
		t.Fatal("Init lifted the hold")
	}
	ta.nodePass(t)
	if !ta.held()["10.199.1.12"] {
		t.Fatal("the hold did not survive a full pass and Init")
	}
	// BFD Up again: lifted.
	event(bfd.Init, bfd.Up, bfd.Up)
	if !poked() {
		t.Fatal("BFD Up did not poke the node loop")
	}
	if err := ta.agent.bfdPass(ctx); err != nil {
		t.Fatal(err)
	}
	if ta.held()["10.199.1.12"] {
		t.Fatal("still held after BFD came Up")
	}

	// Held, then BFD is switched off: the hold goes with it.
	event(bfd.Up, bfd.Down, bfd.Down)
	ta.agent.bfdPass(ctx)
	ta.agent.cfg.BFD = false
	ta.nodePass(t)
	ta.nodePass(t) // the first pass forgets, the planner of the second no longer sees it
	if h := ta.held(); h["10.199.1.12"] || len(fb.peers) != 0 {
		t.Fatalf("BFD off: held %v, BFD sessions %+v", h, fb.peers)
	}
}

// A peer whose BFD stays silent after the failure (FRR deletes a dynamic
// neighbor's BFD session with the neighbor) is held for bfdHoldSilent, not
// forever; one whose BFD answers stays held until it is Up.
func TestBFDHoldOfASilentPeerEnds(t *testing.T) {
	ta, _, event := newBFDTestAgent(t)
	ctx := context.Background()
	event(bfd.Down, bfd.Up, bfd.Init)
	event(bfd.Up, bfd.Down, bfd.Down)
	ta.clock = ta.clock.Add(bfdHoldSilent - time.Millisecond)
	ta.agent.bfdPass(ctx)
	if !ta.held()["10.199.1.12"] {
		t.Fatal("released before bfdHoldSilent")
	}
	// The peer's BFD answers (Down -> Init): the hold stands past the bound.
	event(bfd.Down, bfd.Init, bfd.Down)
	ta.clock = ta.clock.Add(bfdHoldSilent - time.Millisecond)
	ta.agent.bfdPass(ctx)
	if !ta.held()["10.199.1.12"] {
		t.Fatal("released although the peer's BFD answered within bfdHoldSilent")
	}
	// Then nothing more: released.
	ta.clock = ta.clock.Add(2 * time.Millisecond)
	ta.agent.bfdPass(ctx)
	if ta.held()["10.199.1.12"] {
		t.Fatal("still held after bfdHoldSilent of silence")
	}
}

// A released peer whose BFD comes Up is held for one pass and then let go,
// so its neighbor is added afresh and dials at once; never when its BGP
// session came up meanwhile (a peer that starts BFD only after BGP).
func TestBFDUpAfterAReleaseKicksTheNeighborUnlessEstablished(t *testing.T) {
	for _, established := range []bool{false, true} {
		ta, n2, event := newBFDTestAgent(t)
		ctx := context.Background()
		state := "active"
		if established {
			state = bgp.StateEstablished
		}
		ta.speaker.sessions = []bgp.PeerStatus{{Address: n2, State: state}}
		event(bfd.Down, bfd.Up, bfd.Init)
		event(bfd.Up, bfd.Down, bfd.Down)
		ta.clock = ta.clock.Add(bfdHoldSilent)
		<-ta.agent.bfdChanged
		ta.agent.bfdPass(ctx)
		if ta.held()["10.199.1.12"] {
			t.Fatal("a silent peer is still held after bfdHoldSilent")
		}
		// The session comes back before BFD (FRR creates its BFD session
		// once BGP is up): the peer's BFD answering now must not hold the
		// session again.
		event(bfd.Down, bfd.Init, bfd.Down)
		ta.agent.bfdPass(ctx)
		if ta.held()["10.199.1.12"] {
			t.Fatal("a released peer was held again by its BFD's Init")
		}
		event(bfd.Init, bfd.Up, bfd.Up)
		ta.agent.bfdPass(ctx)
		if got := ta.held()["10.199.1.12"]; got == established {
			t.Fatalf("established %v: held for the kick = %v", established, got)
		}
		ta.agent.bfdPass(ctx)
		if ta.held()["10.199.1.12"] {
			t.Fatalf("established %v: still held after the kick's second pass", established)
		}
	}
}

// newBFDTestAgent is a test agent with BFD on after its first node pass, the
// address of its peer lab-node2, and a function delivering a BFD transition
// of that peer as the BFD manager would.
func newBFDTestAgent(t *testing.T) (*testAgent, netip.Addr, func(from, to, remote bfd.State)) {
	t.Helper()
	ta := newTestAgent(t)
	ta.agent.cfg.BFD = true
	ta.agent.bfd = &fakeBFD{t: t}
	ta.nodePass(t)
	n2 := netip.MustParseAddr("10.199.1.12")
	event := func(from, to, remote bfd.State) {
		ta.agent.onBFDChange(bfd.Event{Peer: n2, Transition: bfd.Transition{From: from, To: to, RemoteState: remote}})
	}
	return ta, n2, event
}
