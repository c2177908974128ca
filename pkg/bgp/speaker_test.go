package bgp

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// The tests that run speakers do not run in parallel: GoBGP keeps its
// route-selection options in package variables that StartBgp writes, which
// races with other speakers of the same process (the agent has only one).

// Two speakers on 127.0.0.1 (distinct ports) in one AS: the iBGP full mesh
// between nodes. No root needed.
func startIBGPPair(t *testing.T, gr bool) (a, b *node) {
	t.Helper()
	a = startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", gr)
	b = startNode(t, "node-b", testASN, loopback, 0, "10.255.0.2", gr)
	a.setPeers(t, b.peer)
	b.setPeers(t, a.peer)
	waitEstablished(t, a, b)
	waitEstablished(t, b, a)
	return a, b
}

func TestIBGPPeersLearnAdvertisedPrefixesWithTheirNextHop(t *testing.T) {
	a, b := startIBGPPair(t, true)

	events := make(chan []BestChange, 100)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- b.speaker.WatchBestPaths(watchCtx, func(c []BestChange) { events <- slices.Clone(c) }) // the list is reused
	}()
	t.Cleanup(func() {
		stopWatch()
		select {
		case <-watchDone:
		case <-time.After(waitTimeout):
			t.Error("WatchBestPaths did not return after its context ended")
		}
	})
	// The first call says the watch is in place: read the RIB in full.
	select {
	case c := <-events:
		if c != nil {
			t.Fatalf("first watch call = %v, want nil (read BestPaths in full)", c)
		}
	case <-time.After(waitTimeout):
		t.Fatal("WatchBestPaths did not say it was in place")
	}
	// waitChange waits until the watch reports want as the latest change
	// of its prefix.
	latest := map[string]string{}
	waitChange := func(prefix string, nextHops ...string) {
		t.Helper()
		want := fmt.Sprint(nextHops)
		deadline := time.After(waitTimeout)
		for latest[prefix] != want {
			select {
			case cs := <-events:
				for _, c := range cs {
					hops := []string{}
					for _, h := range c.NextHops {
						hops = append(hops, h.String())
					}
					latest[c.Prefix.String()] = fmt.Sprint(hops)
				}
			case <-deadline:
				t.Fatalf("the watch reported %s via %s, want via %s", prefix, latest[prefix], want)
			}
		}
	}

	// Setting the same peers again must not touch the sessions.
	opens := b.received(t, a).GetOpen()
	a.setPeers(t, b.peer)
	b.setPeers(t, a.peer)

	a.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.11.0/24")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	waitPath(t, b, path("10.244.11.0/24", testNextHopA), true)
	waitChange("10.244.1.0/24", testNextHopA)
	waitChange("10.244.11.0/24", testNextHopA)

	if own := a.bestPaths(t); len(own) != 0 {
		t.Errorf("%s: BestPaths includes paths it originated itself: %v", a.name, own)
	}
	st, _ := b.peerStatus(t, a)
	if st.Name != a.name || st.ASN != testASN || st.Received != 2 || st.Accepted != 2 {
		t.Errorf("%s: status of %s = %+v, want name %q, ASN %d, 2 received and accepted", b.name, a.name, st, a.name, testASN)
	}
	waitFor(t, b.name+" to converge", func() (bool, string) {
		ok, err := b.speaker.Converged(testContext(t))
		if err != nil {
			t.Fatalf("Converged: %v", err)
		}
		return ok, ""
	})

	// A new next hop replaces the path; a dropped prefix is withdrawn.
	a.advertise(t, testNextHopA2, "10.244.1.0/24")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA2), true)
	waitPath(t, b, path("10.244.11.0/24", testNextHopA), false)
	waitChange("10.244.1.0/24", testNextHopA2)
	waitChange("10.244.11.0/24")
	if got := b.bestPaths(t); !slices.Equal(got, []Path{path("10.244.1.0/24", testNextHopA2)}) {
		t.Errorf("%s: best paths = %v, want only 10.244.1.0/24 via %s", b.name, got, testNextHopA2)
	}

	a.advertise(t, testNextHopA2)
	waitPath(t, b, path("10.244.1.0/24", testNextHopA2), false)

	if st, _ := b.peerStatus(t, a); st.State != StateEstablished || b.received(t, a).GetOpen() != opens {
		t.Errorf("%s: session with %s was reset by a repeated Apply: %+v", b.name, a.name, st)
	}
}

func TestApplyWithoutAPeerTearsItsSessionDown(t *testing.T) {
	a, b := startIBGPPair(t, true)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)

	a.setPeers(t)
	if peers, err := a.speaker.Peers(testContext(t)); err != nil || len(peers) != 0 {
		t.Fatalf("%s: peers after removing all = %v, %v; want none", a.name, peers, err)
	}
	// The Cease tells b to drop a's routes at once, graceful restart or not.
	waitFor(t, b.name+" to see the session down", func() (bool, string) {
		st, _ := b.peerStatus(t, a)
		return st.State != StateEstablished, st.State
	})
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), false)
	if ok, err := b.speaker.Converged(testContext(t)); err != nil || ok {
		t.Errorf("%s: Converged = %v, %v with its only peer down; want false", b.name, ok, err)
	}
}

func TestPlannedStopKeepsRoutesAtGracefulRestartHelperUntilRestart(t *testing.T) {
	a, b := startIBGPPair(t, true)
	b.advertise(t, testNextHopB, "10.244.2.0/24", "10.244.3.0/24")
	bPath := path("10.244.2.0/24", testNextHopB)
	droppedPath := path("10.244.3.0/24", testNextHopB)
	waitPath(t, a, bPath, true)
	waitPath(t, a, droppedPath, true)

	b.speaker.Stop()

	waitFor(t, a.name+" to see the session to "+b.name+" drop", func() (bool, string) {
		st, _ := a.peerStatus(t, b)
		return st.State != StateEstablished, st.State
	})
	// As graceful-restart helper a keeps b's route (stale) instead of
	// withdrawing it.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
		if paths := a.bestPaths(t); !slices.Contains(paths, bPath) {
			t.Fatalf("%s dropped %s after %s stopped: best paths %v", a.name, bPath, b.name, paths)
		}
	}
	if n := a.received(t, b).GetNotification(); n != 0 {
		t.Fatalf("%s received %d NOTIFICATION messages from %s; a planned stop must send none", a.name, n, b.name)
	}

	// The restarted speaker binds the same port and re-establishes. GoBGP
	// holds a dropped session in idle for 5s and refuses connections
	// meanwhile; a real restart takes longer than that, so wait for it.
	waitFor(t, a.name+" to try to reconnect to "+b.name, func() (bool, string) {
		st, _ := a.peerStatus(t, b)
		return st.State == "active", st.State
	})
	b2 := startNodeConfig(t, "node-b-restarted", b.cfg)
	b2.setPeers(t, a.peer)
	b2.advertise(t, testNextHopB, "10.244.2.0/24")
	waitEstablished(t, a, b2)
	waitEstablished(t, b2, a)
	waitFor(t, a.name+" to converge after the restart", func() (bool, string) {
		ok, err := a.speaker.Converged(testContext(t))
		if err != nil {
			t.Fatalf("Converged: %v", err)
		}
		return ok, ""
	})
	// End-of-RIB from the restarted speaker ends the stale period: what it
	// re-advertised stays, what it no longer advertises goes.
	paths := a.bestPaths(t)
	if !slices.Contains(paths, bPath) {
		t.Errorf("%s lost %s after %s restarted: %v", a.name, bPath, b.name, paths)
	}
	if slices.Contains(paths, droppedPath) {
		t.Errorf("%s kept stale %s that %s no longer advertises: %v", a.name, droppedPath, b2.name, paths)
	}
}
