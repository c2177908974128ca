//go:build e2e

package fabric

import (
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// TestFabric is the runbook of upstream peering. Its steps share one lab and
// run in this order; each restores what it changed (also when it fails), so
// any one can run alone: go test -tags e2e -run 'TestFabric/03' ./e2e/fabric/
func TestFabric(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_every_node_peers_with_its_ToR_which_has_its_pod_CIDR_and_communities", testSessions},
		{"02_traffic_pods_in_different_racks_talk_through_the_ToR", testCrossRackTraffic},
		{"03_hijack_no_node_installs_a_ToR_route_inside_the_cluster_CIDR", testHijack},
		{"04_md5_the_right_password_comes_up_and_the_wrong_one_does_not", testMD5},
		{"05_annotations_a_bad_peers_annotation_is_reported_and_the_ToR_session_stays", testBadAnnotations},
		{"06_restart_the_ToR_keeps_an_agent's_route_while_it_restarts_and_both_ride_out_a_bgpd_restart", testRestarts},
		{"07_max_prefix_a_peer_over_its_limit_is_torn_down_and_reported", testMaxPrefix},
		{"08_asn_a_changed_node_ASN_restarts_the_speaker_in_place_without_losing_packets", testASNChange},
	})
}
