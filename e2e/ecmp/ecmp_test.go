//go:build e2e

package ecmp

import (
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// TestECMP is the runbook of multipath to upstream routers. Its steps share
// one lab and run in this order; each restores what it changed (also when
// it fails), so any one can run alone:
// go test -tags e2e -run 'TestECMP/03' ./e2e/ecmp/
func TestECMP(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_every_node_is_Established_with_both_ToRs", testSessions},
		{"02_pod_CIDRs_the_other_node's_pod_CIDR_is_one_plain_route_via_that_node", testPodCIDRs},
		{"03_multipath_a_prefix_both_ToRs_announce_is_one_route_over_both", testMultipath},
		{"04_withdraw_one_ToR_withdrawing_leaves_a_single_path_and_announcing_again_restores_both", testWithdraw},
		{"05_restart_a_ToR_that_restarts_without_the_prefix_leaves_a_single_path", testToRRestart},
	})
}
