package agent

import (
	"context"
	"sync"
	"time"
)

// reports remembers the last outcome of each step so that a failure is
// logged when it starts or changes and a recovery once, not on every pass.
type reports struct {
	mu   sync.Mutex
	last map[string]string
}

// report records a step's outcome in health (readiness, metrics) and logs
// it when it changed. Steps are retried by the next pass of their loop.
func (a *agent) report(check string, err error) {
	a.health.Set(check, err)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	a.reports.mu.Lock()
	prev, seen := a.reports.last[check]
	if a.reports.last == nil {
		a.reports.last = map[string]string{}
	}
	a.reports.last[check] = msg
	a.reports.mu.Unlock()
	switch {
	case msg == prev && seen:
	case err != nil:
		a.log.Error("step failed; retrying on the next pass", "event", "step-failed", "check", check, "reason", msg)
	case seen:
		a.log.Info("step recovered", "event", "step-recovered", "check", check)
	}
}

// observePeers publishes how many BGP sessions are in each state.
func (a *agent) observePeers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	peers, err := a.speaker.Peers(ctx)
	if err != nil {
		return
	}
	byState := map[string]int{}
	for _, p := range peers {
		byState[p.State]++
	}
	a.health.Metrics().SetBGPPeers(byState)
}
