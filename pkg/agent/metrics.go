package agent

import (
	"time"

	"github.com/nodebgp/router/pkg/routes"
)

// observeRouteSync records a kernel sync in /metrics.
func (a *agent) observeRouteSync(res routes.SyncResult, took time.Duration) {
	m := a.health.Metrics()
	m.RouteSyncDuration.Observe(took.Seconds())
	m.KernelRoutes.Set(float64(res.Added + res.Replaced + res.Unchanged))
}
