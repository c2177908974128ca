//go:build e2e

package e2e

import (
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// TestE2E is the runbook. Its steps share one lab and run in this order:
// read-only checks first, then the steps that disturb the lab and restore
// it, and last the one that leaves a node without its agent. Each step
// restores what it changed (also when it fails), so any one of them can run
// alone: go test -tags e2e -run 'TestE2E/restart' ./e2e/
// (-run matches the step name by regular expression).
func TestE2E(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		// Issue case 1: the full iBGP mesh and the kernel routes it yields.
		{"01_mesh_every_node_peers_with_every_other_and_routes_their_pod_CIDRs", testMesh},
		// Issue case 2: pods on different nodes reach each other, ICMP and TCP.
		{"02_traffic_pods_on_different_nodes_ping_and_talk_TCP", testPodTraffic},
		// Issue case 3: hostPort through the portmap plugin in the agent's conflist.
		{"03_traffic_hostPort_on_node2_reaches_its_pod_from_another_node", testHostPort},
		// Issue case 7: the gobgp CLI works on the node and only there.
		{"04_api_gobgp_CLI_on_the_node_lists_its_established_peers", testGoBGPCLI},
		{"05_api_gobgp_API_is_unreachable_from_other_namespaces", testGoBGPAPIIsLocal},
		{"06_api_gobgp_CLI_cannot_change_the_speaker", testGoBGPCLIIsReadOnly},
		// Issue case 8: health endpoints.
		{"07_health_healthz_readyz_and_metrics_answer_inside_the_node", testHealth},
		// Issue case 6: a planned agent restart keeps pod traffic flowing.
		{"08_restart_agent_restart_loses_no_pod_traffic_and_keeps_routes", testAgentRestart},
		// Issue case 5: the kernel table is repaired.
		{"09_repair_a_route_deleted_by_hand_comes_back_within_a_second", testRouteDeletedByHand},
		{"10_repair_routes_come_back_after_the_uplink_goes_down_and_up", testUplinkFlap},
		// Issue case 4: nodes join and leave.
		{"11_membership_a_fourth_node_joins_the_mesh_and_leaves_it_cleanly", testFourthNode},
		// Issue case 5: no stale route survives a restart.
		{"12_repair_a_node_deleted_while_an_agent_was_stopped_leaves_no_stale_route", testNodeDeletedWhileAgentStopped},
		// Issue case 9, last: it leaves lab-node1 without agent, routes, rules or bridge.
		{"13_cleanup_router_cleanup_removes_everything_the_agent_made", testCleanup},
	})
}
