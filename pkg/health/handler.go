package health

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves:
//   - /healthz: always 200 "ok" while the process serves HTTP. Liveness never
//     reflects step errors or API server outages: a restart would not fix
//     them, and restarting the agent risks the routes it keeps.
//   - /readyz: 200 when SetReady(true) and no check is failing, else 503;
//     the body lists the agent's verdict and each check as "ok" or
//     "error: ...".
//   - /metrics: Prometheus text from Registry().
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		s := h.snapshot()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, s.report())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{}))
	return mux
}

// report renders the readiness body, one line per item, checks sorted by
// name so the output is stable.
func (s status) report() string {
	var b strings.Builder
	if s.ready() {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	if s.agentReady {
		b.WriteString("agent: ready\n")
	} else {
		b.WriteString("agent: not ready\n")
	}
	names := make([]string, 0, len(s.checks))
	for name := range s.checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.checks[name]; err != nil {
			// One line per check, whatever the error text holds.
			msg := strings.ReplaceAll(err.Error(), "\n", " ")
			fmt.Fprintf(&b, "%s: error: %s\n", name, msg)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", name)
		}
	}
	return b.String()
}
