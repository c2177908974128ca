//go:build e2e

package reflectors

import "testing"

// TestReflectors is the runbook of the route-reflector design. Its steps
// share one lab, run in this order and change nothing, so any one can run
// alone: go test -tags e2e -run 'TestReflectors/02' ./e2e/reflectors/
func TestReflectors(t *testing.T) {
	suite.Lab(t)
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"01_sessions_reflectors_peer_with_every_node_and_clients_with_the_reflectors_only", testSessions},
		{"02_routes_every_node_routes_every_other_pod_CIDR_via_the_node_that_owns_it", testRoutes},
		{"03_traffic_every_pod_reaches_every_other_pod", testTraffic},
	}
	for _, s := range steps {
		suite.Step(t, s.name, s.fn)
	}
}
