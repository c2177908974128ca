package health

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the agent's Prometheus metrics. Health maintains the check and
// readiness metrics itself; the agent updates the rest.
type Metrics struct {
	// CheckFailures counts failed results per check (nodebgp_check_failures_total{check}).
	CheckFailures *prometheus.CounterVec
	// CheckOK is 1 while a check's latest result is a success (nodebgp_check_ok{check}).
	CheckOK *prometheus.GaugeVec
	// KernelRoutes is the number of routes of the agent's protocol in the
	// kernel after the last sync (nodebgp_kernel_routes).
	KernelRoutes prometheus.Gauge
	// BGPPeers is the number of peers per session state (nodebgp_bgp_peers{state});
	// set it with SetBGPPeers so states no peer is in drop to zero.
	BGPPeers *prometheus.GaugeVec
	// RouteSyncDuration is how long each kernel route sync took
	// (nodebgp_route_sync_duration_seconds).
	RouteSyncDuration prometheus.Histogram
	// Ready mirrors /readyz: 1 when ready (nodebgp_ready).
	Ready prometheus.Gauge
	// PrefixLimited is the number of peers held down for sending more
	// prefixes than their limit (nodebgp_bgp_peers_prefix_limited).
	PrefixLimited prometheus.Gauge
	// PrefixLimitTrips counts the sessions shut down by their prefix limit
	// (nodebgp_bgp_prefix_limit_trips_total), one per trip seen.
	PrefixLimitTrips prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		CheckFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodebgp_check_failures_total",
			Help: "Failed results of each reconcile step.",
		}, []string{"check"}),
		CheckOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodebgp_check_ok",
			Help: "1 if the latest result of the reconcile step succeeded, else 0.",
		}, []string{"check"}),
		KernelRoutes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_kernel_routes",
			Help: "Routes of the agent's route protocol in the kernel after the last sync.",
		}),
		BGPPeers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodebgp_bgp_peers",
			Help: "BGP peers by session state.",
		}, []string{"state"}),
		RouteSyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nodebgp_route_sync_duration_seconds",
			Help: "Duration of kernel route syncs.",
			// 1ms to ~16s: a few routes take milliseconds, a large table seconds.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_ready",
			Help: "1 if the agent is ready (as /readyz), else 0.",
		}),
		PrefixLimited: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_bgp_peers_prefix_limited",
			Help: "BGP peers whose session is held down because they sent more prefixes than their limit.",
		}),
		PrefixLimitTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodebgp_bgp_prefix_limit_trips_total",
			Help: "BGP sessions shut down because the peer sent more prefixes than its limit.",
		}),
	}
	reg.MustRegister(
		m.CheckFailures, m.CheckOK, m.KernelRoutes, m.BGPPeers, m.RouteSyncDuration, m.Ready, m.PrefixLimited, m.PrefixLimitTrips,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SetBGPPeers replaces the per-state peer counts, so a state that no peer
// is in any more disappears instead of keeping its last count.
func (m *Metrics) SetBGPPeers(byState map[string]int) {
	m.BGPPeers.Reset()
	for state, n := range byState {
		m.BGPPeers.WithLabelValues(state).Set(float64(n))
	}
}
