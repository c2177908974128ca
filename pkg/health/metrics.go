package health

import (
	"sync"

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
	// NodePassDuration is how long each full node pass took: plan, host,
	// firewall, CNI, BGP (nodebgp_node_pass_duration_seconds).
	NodePassDuration prometheus.Histogram
	// Ready mirrors /readyz: 1 when ready (nodebgp_ready).
	Ready prometheus.Gauge

	// RouteSyncLastDuration is how long the last kernel route sync took
	// (nodebgp_route_sync_last_duration_seconds).
	RouteSyncLastDuration prometheus.Gauge
	// RouteSyncErrors counts kernel route syncs that failed, wholly or for
	// some routes (nodebgp_route_sync_errors_total).
	RouteSyncErrors prometheus.Counter
	// RouteFullSyncs counts full route passes by what asked for them, one
	// of RouteFullSyncReasons (nodebgp_route_full_syncs_total{reason}).
	RouteFullSyncs *prometheus.CounterVec
	// BuildInfo is 1 with the build's versions as labels
	// (nodebgp_build_info{version,goversion,gobgp_version}); see SetBuildInfo.
	BuildInfo *prometheus.GaugeVec
	// StatusWrites counts BGPNodeState writes the API server accepted
	// (nodebgp_status_writes_total).
	StatusWrites prometheus.Counter
	// StatusWriteErrors counts refused or failed BGPNodeState writes by
	// reason, one of StatusWriteReasons (nodebgp_status_write_errors_total{reason}).
	StatusWriteErrors *prometheus.CounterVec

	peers *peerCollector
	// PrefixLimited is the number of peers held down for sending more
	// prefixes than their limit (nodebgp_bgp_peers_prefix_limited).
	PrefixLimited prometheus.Gauge
	// PrefixLimitTrips counts the sessions shut down by their prefix limit
	// (nodebgp_bgp_prefix_limit_trips_total), one per trip seen.
	PrefixLimitTrips prometheus.Counter
	// BFDSessions is 1 for each BFD session's current state
	// (nodebgp_bfd_session_state{peer,state}); set it with SetBFDSessions.
	BFDSessions *prometheus.GaugeVec
	// BFDTransitions counts state changes per session and new state
	// (nodebgp_bfd_transitions_total{peer,state}).
	BFDTransitions *prometheus.CounterVec
	// BFDDropped counts received BFD packets dropped, by reason
	// (nodebgp_bfd_dropped_packets_total{reason}); set with SetBFDDropped.
	BFDDropped *prometheus.CounterVec

	mu         sync.Mutex
	bfdDropped map[string]uint64 // last totals given to SetBFDDropped
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
		NodePassDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nodebgp_node_pass_duration_seconds",
			Help: "Duration of full node passes (plan and apply).",
			// 1ms to ~16s, as the route syncs: a full mesh of hundreds of
			// nodes takes tens of milliseconds inside GoBGP alone.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_ready",
			Help: "1 if the agent is ready (as /readyz), else 0.",
		}),
		RouteSyncLastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_route_sync_last_duration_seconds",
			Help: "Duration of the last kernel route sync.",
		}),
		RouteFullSyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodebgp_route_full_syncs_total",
			Help: "Full route passes (the whole RIB and the kernel's table read and compared), by what asked for them.",
		}, []string{"reason"}),
		RouteSyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodebgp_route_sync_errors_total",
			Help: "Kernel route syncs that failed, wholly or for some routes.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodebgp_build_info",
			Help: "1, labelled with the router's version, its Go version and its GoBGP version.",
		}, []string{"version", "goversion", "gobgp_version"}),
		StatusWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodebgp_status_writes_total",
			Help: "Writes of this node's BGPNodeState the API server accepted.",
		}),
		StatusWriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodebgp_status_write_errors_total",
			Help: "Writes of this node's BGPNodeState that failed, by reason.",
		}, []string{"reason"}),
		peers: newPeerCollector(),
		PrefixLimited: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodebgp_bgp_peers_prefix_limited",
			Help: "BGP peers whose session is held down because they sent more prefixes than their limit.",
		}),
		PrefixLimitTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nodebgp_bgp_prefix_limit_trips_total",
			Help: "BGP sessions shut down because the peer sent more prefixes than its limit.",
		}),
		BFDSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodebgp_bfd_session_state",
			Help: "1 for the current state (AdminDown, Down, Init, Up) of the BFD session with each peer.",
		}, []string{"peer", "state"}),
		BFDTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodebgp_bfd_transitions_total",
			Help: "BFD session state changes, by peer and new state.",
		}, []string{"peer", "state"}),
		BFDDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodebgp_bfd_dropped_packets_total",
			Help: "Received BFD packets dropped: wrong TTL, malformed, authentication, unknown peer or discriminator, over the peer's rate.",
		}, []string{"reason"}),
		bfdDropped: map[string]uint64{},
	}
	for _, r := range StatusWriteReasons {
		m.StatusWriteErrors.WithLabelValues(r) // every reason at 0 from the start
	}
	for _, r := range RouteFullSyncReasons {
		m.RouteFullSyncs.WithLabelValues(r)
	}
	m.SetBuildInfo("")
	reg.MustRegister(
		m.CheckFailures, m.CheckOK, m.KernelRoutes, m.BGPPeers, m.RouteSyncDuration, m.Ready,
		m.RouteSyncLastDuration, m.RouteSyncErrors, m.RouteFullSyncs, m.NodePassDuration, m.BuildInfo, m.StatusWrites, m.StatusWriteErrors, m.peers, m.PrefixLimited, m.PrefixLimitTrips,
		m.BFDSessions, m.BFDTransitions, m.BFDDropped,
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

// SetBFDSessions replaces the BFD session states (peer → state), so a
// removed session disappears.
func (m *Metrics) SetBFDSessions(byPeer map[string]string) {
	m.BFDSessions.Reset()
	for peer, state := range byPeer {
		m.BFDSessions.WithLabelValues(peer, state).Set(1)
	}
}

// SetBFDDropped brings the dropped-packet counter of reason up to total,
// the BFD sessions' own running count.
func (m *Metrics) SetBFDDropped(reason string, total uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last := m.bfdDropped[reason]; total > last {
		m.BFDDropped.WithLabelValues(reason).Add(float64(total - last))
	} else if total == 0 && last == 0 {
		m.BFDDropped.WithLabelValues(reason).Add(0)
	}
	m.bfdDropped[reason] = total
}
