package health

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrape GETs /metrics from the handler and parses it as Prometheus does.
func scrape(t *testing.T, h *Health) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := get(t, h.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return body, fams
}

var twoPeers = []PeerSample{
	{Address: "10.199.1.12", Kind: "node", Established: true, Received: 1, Accepted: 1, Advertised: 2,
		UpdatesReceived: 3, UpdatesSent: 4, SessionsUp: 2, SessionsDown: 1},
	{Address: "10.199.9.1", Kind: "upstream", Received: 0, Advertised: 0, SessionsUp: 0, PrefixLimitExceeded: true},
}

func TestPeerMetricsFollowTheSessions(t *testing.T) {
	h := New()
	h.Metrics().SetPeerSessions(twoPeers)
	body, _ := scrape(t, h)
	for _, want := range []string{
		`nodebgp_bgp_session_up{kind="node",peer="10.199.1.12"} 1`,
		`nodebgp_bgp_session_up{kind="upstream",peer="10.199.9.1"} 0`,
		`nodebgp_bgp_session_transitions_total{direction="up",kind="node",peer="10.199.1.12"} 2`,
		`nodebgp_bgp_session_transitions_total{direction="down",kind="node",peer="10.199.1.12"} 1`,
		`nodebgp_bgp_prefixes_received{kind="node",peer="10.199.1.12"} 1`,
		`nodebgp_bgp_prefixes_accepted{kind="node",peer="10.199.1.12"} 1`,
		`nodebgp_bgp_prefixes_advertised{kind="node",peer="10.199.1.12"} 2`,
		`nodebgp_bgp_updates_received_total{kind="node",peer="10.199.1.12"} 3`,
		`nodebgp_bgp_updates_sent_total{kind="node",peer="10.199.1.12"} 4`,
		`nodebgp_bgp_prefix_limit_exceeded{kind="node",peer="10.199.1.12"} 0`,
		`nodebgp_bgp_prefix_limit_exceeded{kind="upstream",peer="10.199.9.1"} 1`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A peer removed from the node's peer set leaves no series behind.
	h.Metrics().SetPeerSessions(twoPeers[:1])
	body, _ = scrape(t, h)
	if strings.Contains(body, `peer="10.199.9.1"`) {
		t.Error("/metrics still shows a peer that is gone")
	}
	if !hasLine(body, `nodebgp_bgp_session_up{kind="node",peer="10.199.1.12"} 1`) {
		t.Error("/metrics lost the remaining peer")
	}
}

// Per-peer metrics carry the peer's address and kind and nothing that grows
// with the routes: the series count is bounded by the peer count.
func TestPeerMetricsHaveBoundedLabels(t *testing.T) {
	h := New()
	h.Metrics().SetPeerSessions(twoPeers)
	_, fams := scrape(t, h)
	allowed := []string{"peer", "kind", "direction"}
	seen := 0
	for name, f := range fams {
		if !strings.HasPrefix(name, "nodebgp_bgp_") || name == "nodebgp_bgp_peers" ||
			name == "nodebgp_bgp_peers_prefix_limited" || name == "nodebgp_bgp_prefix_limit_trips_total" {
			// Node-wide, not per peer.
			continue
		}
		seen++
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(allowed, l.GetName()) {
					t.Errorf("%s has label %q; per-peer metrics may only have %v", name, l.GetName(), allowed)
				}
			}
		}
		if n := len(f.GetMetric()); n > 2*len(twoPeers) {
			t.Errorf("%s has %d series for %d peers", name, n, len(twoPeers))
		}
	}
	if seen != 8 {
		t.Errorf("found %d per-peer metric families, want 8", seen)
	}
}

func TestRouteSyncStatusAndBuildMetrics(t *testing.T) {
	h := New()
	m := h.Metrics()
	m.SetBuildInfo("v1.2.3")
	m.RouteSyncLastDuration.Set(0.25)
	m.RouteSyncErrors.Inc()
	m.StatusWrites.Inc()
	m.StatusWriteErrors.WithLabelValues("forbidden").Inc()
	body, fams := scrape(t, h)
	for _, want := range []string{
		`nodebgp_route_sync_last_duration_seconds 0.25`,
		`nodebgp_route_sync_errors_total 1`,
		`nodebgp_status_writes_total 1`,
		`nodebgp_status_write_errors_total{reason="forbidden"} 1`,
		`nodebgp_status_write_errors_total{reason="unavailable"} 0`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	bi := fams["nodebgp_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("nodebgp_build_info: %v, want one series", bi)
	}
	labels := map[string]string{}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "v1.2.3" || !strings.HasPrefix(labels["goversion"], "go") || labels["gobgp_version"] == "" {
		t.Errorf("nodebgp_build_info labels = %v", labels)
	}
}

// Every metric follows Prometheus' naming conventions, as promtool checks
// them: units in the name, _total on counters, no reserved suffixes.
func TestMetricsPassPromlint(t *testing.T) {
	h := New()
	h.Metrics().SetPeerSessions(twoPeers)
	h.Set("bgp", nil)
	h.Metrics().SetBGPPeers(map[string]int{"established": 1})
	body, _ := scrape(t, h)
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// docs/metrics.md lists every metric the agent exports, and no other.
func TestMetricsDocListsEveryMetric(t *testing.T) {
	h := New()
	h.Metrics().SetPeerSessions(twoPeers)
	h.Set("bgp", nil)
	h.Metrics().SetBGPPeers(map[string]int{"established": 1})
	h.Metrics().KernelRoutes.Set(1)
	h.Metrics().SetBFDSessions(map[string]string{"10.199.1.12": "Up"})
	h.Metrics().BFDTransitions.WithLabelValues("10.199.1.12", "Up").Inc()
	h.Metrics().SetBFDDropped("ttl", 1)
	_, fams := scrape(t, h)
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(nodebgp_[a-z0-9_]+)").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for name := range fams {
		if strings.HasPrefix(name, "nodebgp_") && !documented[name] {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
	for name := range documented {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if fams[name] == nil && fams[base] == nil {
			t.Errorf("docs/metrics.md lists %s, which the agent does not export", name)
		}
	}
}
