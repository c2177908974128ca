package agent

import (
	"time"
)

// observeRouteSync records a kernel sync or update, after which the kernel
// holds n routes of ours, in /metrics and for the status.
func (a *agent) observeRouteSync(n int, took time.Duration, err error) {
	m := a.health.Metrics()
	m.RouteSyncDuration.Observe(took.Seconds())
	m.RouteSyncLastDuration.Set(took.Seconds())
	if err != nil {
		m.RouteSyncErrors.Inc()
	}
	m.KernelRoutes.Set(float64(n))
	a.noteRouteSync(n, err)
}
