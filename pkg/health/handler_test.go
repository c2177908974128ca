package health

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestHealthzNeverFailsOnStepErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *Health)
	}{
		{name: "fresh agent", setup: func(*Health) {}},
		{name: "API server unreachable", setup: func(h *Health) { h.Set("api", errors.New("dial tcp 10.96.0.1:443: connection refused")) }},
		{name: "every step failing and not ready", setup: func(h *Health) {
			for _, c := range []string{"bgp", "routes", "firewall", "cni", "peers", "api"} {
				h.Set(c, errors.New("broken"))
			}
			h.SetReady(false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			tt.setup(h)
			code, body := get(t, h.Handler(), "/healthz")
			if code != http.StatusOK || body != "ok\n" {
				t.Errorf("/healthz = %d %q, want 200 \"ok\\n\"", code, body)
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(h *Health)
		wantCode int
		wantBody string
	}{
		{
			name:     "fresh agent is not ready",
			setup:    func(*Health) {},
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: not ready\n",
		},
		{
			name:     "passing checks alone do not make the agent ready",
			setup:    func(h *Health) { h.Set("bgp", nil) },
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: not ready\nbgp: ok\n",
		},
		{
			name:     "agent ready with all checks passing is ready, checks sorted",
			setup:    func(h *Health) { h.Set("routes", nil); h.Set("bgp", nil); h.SetReady(true) },
			wantCode: http.StatusOK,
			wantBody: "ready\nagent: ready\nbgp: ok\nroutes: ok\n",
		},
		{
			name: "a failing check makes a ready agent not ready",
			setup: func(h *Health) {
				h.SetReady(true)
				h.Set("bgp", nil)
				h.Set("routes", errors.New("adding route 10.244.2.0/24 via 10.199.1.12: file exists"))
			},
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: ready\nbgp: ok\nroutes: error: adding route 10.244.2.0/24 via 10.199.1.12: file exists\n",
		},
		{
			name:     "a failing api check makes the agent not ready",
			setup:    func(h *Health) { h.SetReady(true); h.Set("api", errors.New("watch closed")) },
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: ready\napi: error: watch closed\n",
		},
		{
			name:     "a check that recovers restores readiness",
			setup:    func(h *Health) { h.SetReady(true); h.Set("cni", errors.New("disk full")); h.Set("cni", nil) },
			wantCode: http.StatusOK,
			wantBody: "ready\nagent: ready\ncni: ok\n",
		},
		{
			name:     "an agent that withdraws readiness is not ready",
			setup:    func(h *Health) { h.SetReady(true); h.SetReady(false) },
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: not ready\n",
		},
		{
			name:     "a multi-line error stays on one line",
			setup:    func(h *Health) { h.SetReady(true); h.Set("firewall", errors.New("iptables failed:\nline 2")) },
			wantCode: http.StatusServiceUnavailable,
			wantBody: "not ready\nagent: ready\nfirewall: error: iptables failed: line 2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			tt.setup(h)
			code, body := get(t, h.Handler(), "/readyz")
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("/readyz = %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestMetricsExposeChecksAndAgentMetrics(t *testing.T) {
	h := New()
	h.Set("bgp", errors.New("peer down"))
	h.Set("bgp", errors.New("peer down"))
	h.Set("bgp", nil)
	h.Set("routes", errors.New("netlink: permission denied"))
	h.Set("cni", nil)
	h.SetReady(true)
	m := h.Metrics()
	m.KernelRoutes.Set(12)
	m.SetBGPPeers(map[string]int{"active": 3})
	m.SetBGPPeers(map[string]int{"established": 2, "idle": 1})
	m.RouteSyncDuration.Observe(0.003)

	code, body := get(t, h.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`nodebgp_check_failures_total{check="bgp"} 2`,
		`nodebgp_check_failures_total{check="routes"} 1`,
		`nodebgp_check_failures_total{check="cni"} 0`,
		`nodebgp_check_ok{check="bgp"} 1`,
		`nodebgp_check_ok{check="routes"} 0`,
		`nodebgp_ready 0`,
		`nodebgp_kernel_routes 12`,
		`nodebgp_bgp_peers{state="established"} 2`,
		`nodebgp_bgp_peers{state="idle"} 1`,
		`nodebgp_route_sync_duration_seconds_count 1`,
		`nodebgp_route_sync_duration_seconds_bucket{le="0.004"} 1`,
		`go_goroutines `,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `state="active"`) {
		t.Error("/metrics still shows a BGP state no peer is in")
	}
}

func TestReadyMetricFollowsReadiness(t *testing.T) {
	h := New()
	h.SetReady(true)
	if _, body := get(t, h.Handler(), "/metrics"); !hasLine(body, "nodebgp_ready 1") {
		t.Error("nodebgp_ready is not 1 for a ready agent")
	}
	h.Set("peers", errors.New("bad annotation"))
	if _, body := get(t, h.Handler(), "/metrics"); !hasLine(body, "nodebgp_ready 0") {
		t.Error("nodebgp_ready is not 0 with a failing check")
	}
}

func TestEachHealthHasItsOwnRegistry(t *testing.T) {
	// Registering on the global registry would panic on the second New.
	a, b := New(), New()
	a.Set("bgp", errors.New("x"))
	if _, body := get(t, b.Handler(), "/metrics"); strings.Contains(body, `check="bgp"`) {
		t.Error("a check set on one Health shows in another's metrics")
	}
	if a.Registry() == b.Registry() {
		t.Error("two Healths share a registry")
	}
}

// hasLine reports whether body has a line starting with prefix.
func hasLine(body, prefix string) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func TestProfilingIsServedBesideTheChecks(t *testing.T) {
	h := WithProfiling(New().Handler())
	if code, body := get(t, h, "/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Fatalf("/debug/pprof/heap = %d %q", code, body[:min(len(body), 80)])
	}
	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
}
