package agent

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/routes"
)

// convergingSpeaker is the fake speaker for a test that runs the route loop
// itself: whether the RIB converged is set from the test's goroutine while
// the loop asks, and the first question is announced.
type convergingSpeaker struct {
	*fakeSpeaker
	converged atomic.Bool
	asked     chan struct{}
	askedOnce sync.Once
}

func (s *convergingSpeaker) Converged(context.Context) (bool, error) {
	s.askedOnce.Do(func() { close(s.asked) })
	return s.converged.Load(), nil
}

func TestStaleRoutesArePrunedWithinSecondsOfConvergingNotAtTheNextSyncPeriod(t *testing.T) {
	tests := []struct {
		name     string
		converge func(s *convergingSpeaker, now *atomic.Int64, restartTime time.Duration)
	}{
		{"every peer sent End-of-RIB", func(s *convergingSpeaker, _ *atomic.Int64, _ time.Duration) {
			s.converged.Store(true)
		}},
		{"the restart time ran out", func(_ *convergingSpeaker, now *atomic.Int64, restartTime time.Duration) {
			now.Add(int64(restartTime))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestAgent(t)
			// A sync period no test waits for: only the loop's own check
			// for convergence can start the pruning pass.
			ta.agent.cfg.RoutesSyncPeriod = time.Hour
			stale := netip.MustParsePrefix("10.244.9.0/24")
			ta.kernel.table = nil
			ta.speaker.best = []bgp.Path{{Prefix: stale, NextHop: netip.MustParseAddr("10.199.1.19")}}
			ta.routePass()
			ta.speaker.best = nil
			ta.nodePass(t)

			sp := &convergingSpeaker{fakeSpeaker: ta.speaker, asked: make(chan struct{})}
			ta.agent.speaker = sp
			// The agent's clock runs with the real one (the loop's poll
			// ticks are real), and the test may move it on at once.
			var now atomic.Int64
			now.Store(ta.clock.UnixNano())
			began := time.Now()
			ta.agent.now = func() time.Time { return time.Unix(0, now.Load()).Add(time.Since(began)) }
			var allowed atomic.Bool
			pruned := make(chan struct{})
			var prunedOnce sync.Once
			ta.kernel.mayPrune = func() bool {
				prunedOnce.Do(func() { close(pruned) })
				return allowed.Load()
			}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ta.agent.routeLoop(ctx) }()
			defer func() {
				cancel()
				<-done
			}()

			select {
			case <-sp.asked:
			case <-time.After(10 * time.Second):
				t.Fatal("the route loop never asked whether the RIB converged")
			}
			allowed.Store(true)
			tt.converge(sp, &now, ta.agent.cfg.RestartTime)
			// Nothing else happens: no best-path change, no tick.
			select {
			case <-pruned:
			case <-time.After(10 * convergePollInterval):
				t.Fatalf("stale route not pruned within %s of converging (sync period %s)", 10*convergePollInterval, ta.agent.cfg.RoutesSyncPeriod)
			}
		})
	}
}

// countingSpeaker counts the questions whether the RIB converged.
type countingSpeaker struct {
	*fakeSpeaker
	asked int
}

func (s *countingSpeaker) Converged(context.Context) (bool, error) {
	s.asked++
	return false, nil
}

// Before the RIB converged every route pass could ask the speaker, which
// lists every neighbor through GoBGP's server loop; a restart's table comes
// in thousands of passes. However many passes run, the speaker is asked at
// most once per convergeAskInterval.
func TestBusyRoutePassesAskWhetherTheRIBConvergedAtMostTwiceASecond(t *testing.T) {
	ta := newTestAgent(t)
	ta.routePass()
	ta.nodePass(t)
	sp := &countingSpeaker{fakeSpeaker: ta.speaker}
	ta.agent.speaker = sp
	via := netip.MustParseAddr("10.199.1.12")
	passes := func(n int) {
		for i := range n {
			ta.routeEvents(bgp.BestChange{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 245, byte(i), 0}), 24), NextHops: []netip.Addr{via}})
		}
	}
	for _, step := range []struct {
		advance   time.Duration
		wantAsked int
	}{
		{convergeAskInterval, 1},
		{0, 1},
		{convergeAskInterval / 2, 1},
		{convergeAskInterval / 2, 2},
		{3 * convergeAskInterval, 3},
	} {
		ta.clock = ta.clock.Add(step.advance)
		passes(50)
		if sp.asked != step.wantAsked {
			t.Fatalf("after 50 more passes %s later: asked %d times, want %d", step.advance, sp.asked, step.wantAsked)
		}
	}
}

// After a fresh start every route of ours in the kernel is one the agent
// wrote from its best paths, so none can be stale: it prunes from the first
// pass and never runs the full pass that looks for stale routes (nor asks
// whether the RIB converged). After a restart the kept routes wait for
// convergence, as TestStaleKernelRoutesAreNeverPrunedBeforeTheRIBConverged
// shows.
func TestOnlyAFreshStartPrunesFromTheFirstPass(t *testing.T) {
	via := netip.MustParseAddr("10.199.1.12")
	tests := []struct {
		name      string
		kernel    []routes.Route
		wantPrune bool
	}{
		{name: "a new or rebooted node: no route of ours in the kernel", wantPrune: true},
		{name: "an agent restart: the kernel kept our routes", kernel: []routes.Route{{Prefix: n2CIDR, Gateway: via}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestAgent(t)
			ta.kernel.table = tt.kernel
			ta.kernel.mayPrune = func() bool { return tt.wantPrune }
			sp := &countingSpeaker{fakeSpeaker: ta.speaker}
			ta.agent.speaker = sp
			ta.agent.applyFirstPeers(context.Background(), ta.agent.plan(context.Background()))
			ta.route = ta.agent.newRouteState()
			ta.routePass()
			ta.nodePass(t)
			ta.clock = ta.clock.Add(convergeAskInterval)
			ta.routeEvents(bgp.BestChange{Prefix: netip.MustParsePrefix("10.245.0.0/24"), NextHops: []netip.Addr{via}})
			if ta.route.prune != tt.wantPrune {
				t.Errorf("pruning %v after the first passes, want %v", ta.route.prune, tt.wantPrune)
			}
			if asked := sp.asked > 0; asked == tt.wantPrune {
				t.Errorf("asked whether the RIB converged: %v, want %v", asked, !tt.wantPrune)
			}
		})
	}
}
