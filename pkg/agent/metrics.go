package agent

import (
	"time"

	"github.com/nodebgp/router/pkg/routes"
)

// observeRouteSync records a kernel sync in /metrics and for the status.
func (a *agent) observeRouteSync(res routes.SyncResult, took time.Duration, err error) {
	m := a.health.Metrics()
	m.RouteSyncDuration.Observe(took.Seconds())
	m.RouteSyncLastDuration.Set(took.Seconds())
	if err != nil {
		m.RouteSyncErrors.Inc()
	}
	n := res.Added + res.Replaced + res.Unchanged
	m.KernelRoutes.Set(float64(n))
	a.noteRouteSync(n, err)
}
