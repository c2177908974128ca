package bgp

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestWatchSessionsUpReportsASessionReachingEstablished(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a := startNode(t, "a", 64512, lo, 0, "10.0.0.1", false)
	b := startNode(t, "b", 64512, lo, 0, "10.0.0.2", false)
	ups := make(chan struct{}, 8)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.speaker.WatchSessionsUp(ctx, func() { ups <- struct{}{} }) }()
	// Time for the watch to be registered: one registered too late misses
	// the event and fails the test, it cannot make it pass.
	time.Sleep(100 * time.Millisecond)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Passive = true }))
	a.setPeers(t, b.peer)
	waitEstablished(t, a, b)
	select {
	case <-ups:
	case <-time.After(waitTimeout):
		t.Fatal("no session up reported after the session was established")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchSessionsUp: %v", err)
	}
}
