package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/status"
)

// fakeStatusWriter records what the reporting loop hands over; its Update
// fails the test when a routing loop calls it (only the reporting loop may).
type fakeStatusWriter struct {
	t       *testing.T
	updates []status.Object
	allowed bool
}

func (w *fakeStatusWriter) Update(o status.Object) {
	if !w.allowed {
		w.t.Errorf("the status writer was called from a loop that routes")
	}
	w.updates = append(w.updates, o)
}

func TestReportPassPublishesTheStatusAndPeerMetrics(t *testing.T) {
	ta := newTestAgent(t)
	w := &fakeStatusWriter{t: t}
	ta.agent.statusWriter = w
	ta.agent.routerID = netip.MustParseAddr("10.199.1.11")

	ta.nodePass(t)
	ta.routePass()
	ta.nodePass(t)
	if len(w.updates) != 0 {
		t.Fatal("a routing pass wrote the status")
	}
	peers := ta.speaker.desired.Peers
	if len(peers) == 0 {
		t.Fatal("no peers planned")
	}
	ta.speaker.sessions = []bgp.PeerStatus{{Address: peers[0].Address, State: bgp.StateEstablished, Received: 1, Accepted: 1, Advertised: 1, SessionsUp: 1}}

	writes := ta.writes()
	w.allowed = true
	ta.agent.reportPass(context.Background())
	if got := ta.writes(); got != writes {
		t.Errorf("the reporting pass wrote to a routing system: %s, was %s", got, writes)
	}
	if len(w.updates) != 1 {
		t.Fatalf("%d status updates, want 1", len(w.updates))
	}
	s := w.updates[0].Status
	if s.ASN != ta.agent.identity.ASN || s.RouterID != "10.199.1.11" || s.Role != "mesh" {
		t.Errorf("identity = %d %s %s", s.ASN, s.RouterID, s.Role)
	}
	if want := len(peers); s.SessionsTotal != want || s.SessionsUp != 1 {
		t.Errorf("sessions %s, want 1/%d", s.SessionSummary, want)
	}
	if len(s.AdvertisedPodCIDRs) != 1 || s.AdvertisedPodCIDRs[0] != n1CIDR.String() {
		t.Errorf("advertised = %v, want %s", s.AdvertisedPodCIDRs, n1CIDR)
	}
	for _, c := range s.Conditions {
		if c.Type == status.RoutesProgrammed && c.Status != "True" {
			t.Errorf("RoutesProgrammed = %+v after a successful sync", c)
		}
	}
	_, body := scrapeAgent(t, ta)
	want := `nodebgp_bgp_session_up{kind="node",peer="` + peers[0].Address.String() + `"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// scrapeAgent reads the agent's /metrics as Prometheus would.
func scrapeAgent(t *testing.T, ta *testAgent) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ta.agent.health.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Code, rec.Body.String()
}

// With BFD on, each session's BFD state reaches the status from the
// reporting pass; the BFD it reads is the one the agent started (noteBFD).
func TestReportPassCarriesEachSessionsBFDState(t *testing.T) {
	ta := newTestAgent(t)
	ta.agent.cfg.BFD = true
	fb := &fakeBFD{t: t}
	ta.agent.bfd = fb
	w := &fakeStatusWriter{t: t, allowed: true}
	ta.agent.statusWriter = w
	ta.nodePass(t)

	ta.agent.reportPass(context.Background())
	if s := w.updates[len(w.updates)-1].Status; s.BFDTotal != 2 || s.BFDUp != 0 || s.Sessions[0].BFD == nil || s.Sessions[0].BFD.State != status.BFDUnknown {
		t.Errorf("before BFD is handed to the reporting loop: bfd %s, sessions %+v; want 0/2, Unknown", s.BFDSummary, s.Sessions)
	}
	ta.agent.noteBFD(fb)
	ta.agent.reportPass(context.Background())
	s := w.updates[len(w.updates)-1].Status
	if s.BFDSummary != "2/2" {
		t.Errorf("bfdSummary = %q, want 2/2", s.BFDSummary)
	}
	for _, ss := range s.Sessions {
		if ss.BFD == nil || ss.BFD.State != "Up" {
			t.Errorf("session %s: bfd %+v, want Up", ss.Peer, ss.BFD)
		}
	}
}
