// Package health serves the agent's liveness, readiness and metrics on one
// HTTP listener, and holds the latest result of each named reconcile step.
package health

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Health records the latest result of each named check and whether the
// agent considers itself ready. It is safe for concurrent use.
type Health struct {
	mu     sync.Mutex
	checks map[string]error
	ready  bool

	registry *prometheus.Registry
	metrics  *Metrics
}

// New returns a Health that is not ready and has no checks, with its own
// metrics registry.
func New() *Health {
	reg := prometheus.NewRegistry()
	return &Health{checks: map[string]error{}, registry: reg, metrics: newMetrics(reg)}
}

// Set records the latest result of a named step ("bgp", "routes",
// "firewall", "cni", "peers", "api"); a nil err means the step succeeded.
// Each failure counts once in nodebgp_check_failures_total.
func (h *Health) Set(check string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[check] = err
	if err != nil {
		h.metrics.CheckFailures.WithLabelValues(check).Inc()
		h.metrics.CheckOK.WithLabelValues(check).Set(0)
	} else {
		// Touch the counter so the series exists at 0 before the first failure.
		h.metrics.CheckFailures.WithLabelValues(check)
		h.metrics.CheckOK.WithLabelValues(check).Set(1)
	}
	h.updateReadyLocked()
}

// SetReady records the agent's own verdict: true once BGP runs and the first
// route sync is done.
func (h *Health) SetReady(ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = ready
	h.updateReadyLocked()
}

// Registry is the registry /metrics serves; the agent may register more
// collectors on it.
func (h *Health) Registry() *prometheus.Registry { return h.registry }

// Metrics returns the agent-facing metrics, registered on Registry().
func (h *Health) Metrics() *Metrics { return h.metrics }

// status is a consistent snapshot for /readyz.
type status struct {
	agentReady bool
	checks     map[string]error
}

func (h *Health) snapshot() status {
	h.mu.Lock()
	defer h.mu.Unlock()
	checks := make(map[string]error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	return status{agentReady: h.ready, checks: checks}
}

// ready reports whether the agent said it is ready and no check is failing.
// An "api" failure counts too: the node still routes on its cache, but it
// cannot see cluster changes, which an operator watching readiness should
// know about. Liveness, not readiness, is what must ride out API outages.
func (s status) ready() bool {
	if !s.agentReady {
		return false
	}
	for _, err := range s.checks {
		if err != nil {
			return false
		}
	}
	return true
}

func (h *Health) updateReadyLocked() {
	v := 0.0
	if (status{agentReady: h.ready, checks: h.checks}).ready() {
		v = 1
	}
	h.metrics.Ready.Set(v)
}
