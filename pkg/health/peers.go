package health

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// PeerSample is one BGP session as /metrics shows it. Its labels are the
// peer's address and kind only, never a prefix: the series count grows with
// the peers a node has (its mesh, reflectors and ToRs), not with the routes.
type PeerSample struct {
	Address string // the peer label, e.g. "10.199.1.12"
	Kind    string // the kind label: "node" or "upstream"
	// Established is true while the session is up.
	Established bool
	// Received, Accepted and Advertised count prefixes over all families.
	Received, Accepted, Advertised int
	// UpdatesReceived and UpdatesSent count UPDATE messages; SessionsUp and
	// SessionsDown count transitions into and out of Established. All four
	// restart at zero when the neighbor is re-created, as counters may.
	UpdatesReceived, UpdatesSent uint64
	SessionsUp, SessionsDown     uint64
	// PrefixLimitExceeded: the session is held down for sending too many
	// prefixes.
	PrefixLimitExceeded bool
}

// peerCollector serves the latest PeerSamples as constant metrics, so a
// peer that is gone leaves no series behind.
type peerCollector struct {
	mu    sync.Mutex
	peers []PeerSample

	up, transitions, received, accepted, advertised, updatesIn, updatesOut, limit *prometheus.Desc
}

func newPeerCollector() *peerCollector {
	labels := []string{"peer", "kind"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(labels[:2:2], extra...), nil)
	}
	return &peerCollector{
		up:          d("nodebgp_bgp_session_up", "1 while the BGP session with the peer is established, else 0."),
		transitions: d("nodebgp_bgp_session_transitions_total", "Transitions of the BGP session into (direction=up) and out of (direction=down) Established.", "direction"),
		received:    d("nodebgp_bgp_prefixes_received", "Prefixes in the peer's Adj-RIB-In, all families."),
		accepted:    d("nodebgp_bgp_prefixes_accepted", "Prefixes from the peer not rejected on arrival, all families."),
		advertised:  d("nodebgp_bgp_prefixes_advertised", "Prefixes advertised to the peer, all families."),
		updatesIn:   d("nodebgp_bgp_updates_received_total", "BGP UPDATE messages received from the peer."),
		updatesOut:  d("nodebgp_bgp_updates_sent_total", "BGP UPDATE messages sent to the peer."),
		limit:       d("nodebgp_bgp_prefix_limit_exceeded", "1 while the session is held down because the peer sent more prefixes than its limit, else 0."),
	}
}

func (c *peerCollector) set(peers []PeerSample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peers = append([]PeerSample(nil), peers...)
}

func (c *peerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.transitions, c.received, c.accepted, c.advertised, c.updatesIn, c.updatesOut, c.limit} {
		ch <- d
	}
}

func (c *peerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	peers := c.peers
	c.mu.Unlock()
	for _, p := range peers {
		up := 0.0
		if p.Established {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(p.SessionsUp), p.Address, p.Kind, "up")
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(p.SessionsDown), p.Address, p.Kind, "down")
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.GaugeValue, float64(p.Received), p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.GaugeValue, float64(p.Accepted), p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.advertised, prometheus.GaugeValue, float64(p.Advertised), p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.updatesIn, prometheus.CounterValue, float64(p.UpdatesReceived), p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.updatesOut, prometheus.CounterValue, float64(p.UpdatesSent), p.Address, p.Kind)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, b2f(p.PrefixLimitExceeded), p.Address, p.Kind)
	}
}

// SetPeerSessions replaces the per-peer metrics with peers: a peer not in
// the list any more has no series.
func (m *Metrics) SetPeerSessions(peers []PeerSample) { m.peers.set(peers) }

// SetBuildInfo sets nodebgp_build_info's labels: the router's version, the
// Go version it was built with and the GoBGP module's version.
func (m *Metrics) SetBuildInfo(version string) {
	if version == "" {
		version = "unknown"
	}
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, runtime.Version(), moduleVersion("github.com/osrg/gobgp/v3")).Set(1)
}

// moduleVersion is the version of a module the binary was built with,
// "unknown" when the binary carries no build info.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range info.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
}

// StatusWriteReasons are the values of nodebgp_status_write_errors_total's
// reason label: a bounded set, whatever the API server says.
var StatusWriteReasons = []string{"forbidden", "not-found", "invalid", "conflict", "unavailable", "timeout", "other"}

// RouteFullSyncReasons are the values of nodebgp_route_full_syncs_total's
// reason label (the agent's route loop says what each means).
var RouteFullSyncReasons = []string{"start", "period", "link", "burst", "record", "deleted", "converged"}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
