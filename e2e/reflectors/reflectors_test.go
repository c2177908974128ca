//go:build e2e

package reflectors

import (
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// TestReflectors is the runbook of the route-reflector design. Its steps
// share one lab and run in this order; each leaves the lab as it found it
// (step 05 restarts an agent and restores it, on failure too), so any one
// can run alone: go test -tags e2e -run 'TestReflectors/02' ./e2e/reflectors/
func TestReflectors(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_reflectors_peer_with_every_node_and_clients_with_the_reflectors_only", testSessions},
		{"02_routes_every_node_routes_every_other_pod_CIDR_via_the_node_that_owns_it", testRoutes},
		{"03_traffic_every_pod_reaches_every_other_pod", testTraffic},
		{"04_md5_every_session_is_Established_on_a_connection_signed_for_its_peer", testSigned},
		{"05_md5_a_client_without_the_mesh_password_gets_no_session_and_with_it_gets_them_back", testPasswordRequired},
		{"06_promote_annotating_a_client_as_reflector_and_back_restarts_its_speaker_in_place_without_losing_packets", testPromote},
	})
}
