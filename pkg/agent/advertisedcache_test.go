package agent

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

func TestAdvertisedCache(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	session := func(addr netip.Addr, state string, advertised int) bgp.PeerStatus {
		return bgp.PeerStatus{Address: addr, State: state, Advertised: advertised}
	}
	read := []bgp.PeerStatus{session(a, bgp.StateEstablished, 3), session(b, bgp.StateEstablished, 1)}

	tests := []struct {
		name      string
		stored    bool
		stale     bool
		at        time.Duration
		sessions  []bgp.PeerStatus
		wantDue   bool
		wantFill  bool
		wantCount []int
	}{
		{name: "nothing read yet: due", wantDue: true},
		{name: "just read: counts carried over", stored: true, at: time.Second,
			sessions: []bgp.PeerStatus{session(a, bgp.StateEstablished, 0), session(b, bgp.StateEstablished, 0)},
			wantFill: true, wantCount: []int{3, 1}},
		{name: "refresh period passed: due", stored: true, at: advertisedRefresh, wantDue: true},
		{name: "a node pass since: due", stored: true, stale: true, at: time.Second, wantDue: true},
		{name: "a session changed state: read afresh", stored: true, at: time.Second,
			sessions:  []bgp.PeerStatus{session(a, bgp.StateEstablished, 0), session(b, "active", 0)},
			wantCount: []int{0, 0}},
		{name: "a neighbor added: read afresh", stored: true, at: time.Second,
			sessions: []bgp.PeerStatus{session(a, bgp.StateEstablished, 0), session(b, bgp.StateEstablished, 0),
				session(netip.MustParseAddr("10.0.0.3"), "active", 0)},
			wantCount: []int{0, 0, 0}},
		{name: "a neighbor replaced by another: read afresh", stored: true, at: time.Second,
			sessions: []bgp.PeerStatus{session(a, bgp.StateEstablished, 0),
				session(netip.MustParseAddr("10.0.0.3"), bgp.StateEstablished, 0)},
			wantCount: []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c advertisedCache
			if tt.stored {
				c.store(read, t0)
			}
			if tt.stale {
				c.markStale()
			}
			if got := c.due(t0.Add(tt.at)); got != tt.wantDue {
				t.Fatalf("due = %v, want %v", got, tt.wantDue)
			}
			if tt.wantDue {
				return
			}
			if got := c.fill(tt.sessions); got != tt.wantFill {
				t.Errorf("fill = %v, want %v", got, tt.wantFill)
			}
			for i, want := range tt.wantCount {
				if got := tt.sessions[i].Advertised; got != want {
					t.Errorf("session %s: advertised %d, want %d", tt.sessions[i].Address, got, want)
				}
			}
		})
	}
}

// The reporting loop asks GoBGP for the advertised counts (a walk of the
// RIB per neighbor) only when they may have changed.
func TestReportPassReadsAdvertisedCountsOnlyWhenTheyMayHaveChanged(t *testing.T) {
	ta := newTestAgent(t)
	ta.speaker.sessions = []bgp.PeerStatus{
		{Address: netip.MustParseAddr("10.199.1.12"), State: bgp.StateEstablished, Advertised: 1},
	}
	ta.nodePass(t)
	ctx := context.Background()
	steps := []struct {
		name  string
		do    func()
		reads []bool
	}{
		{name: "first pass reads them", reads: []bool{true}},
		{name: "nothing changed: not read", do: func() { ta.clock = ta.clock.Add(time.Second) }, reads: []bool{false}},
		{name: "a node pass: read", do: func() { ta.nodePass(t) }, reads: []bool{true}},
		{name: "a session went down: read again after the cheap read", do: func() {
			ta.speaker.sessions[0].State = "active"
		}, reads: []bool{false, true}},
		{name: "the refresh period passed: read", do: func() { ta.clock = ta.clock.Add(advertisedRefresh) }, reads: []bool{true}},
	}
	for _, step := range steps {
		if step.do != nil {
			step.do()
		}
		ta.speaker.sessionReads = nil
		ta.agent.reportPass(ctx)
		if !slices.Equal(ta.speaker.sessionReads, step.reads) {
			t.Errorf("%s: Sessions(withAdvertised) calls %v, want %v", step.name, ta.speaker.sessionReads, step.reads)
		}
	}
}
