//go:build e2e

// Package services is nodebgp's end-to-end suite for Service addresses over
// BGP: one rack behind one FRR ToR (AS 65000), three nodes in the iBGP mesh
// (AS 64512) that also peer with the ToR and run with every --advertise-*
// switch on and --accept-upstream-routes (so that only the import filter
// keeps a Service route from a peer out of the kernel). There is no
// kube-proxy and no EndpointSlice controller in this lab: the suite writes
// Services, their load balancer status and their EndpointSlices by hand,
// as the controllers would, and reads the ToR's RIB with vtysh.
package services

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(suite.Run(m))
}

const (
	labDir     = "/tmp/nodebgp-services"
	labNodes   = 3
	syncPeriod = 5 * time.Second
	// communityNode tags its routes (Service routes too) by annotation.
	communityNode = 1
	nodeCommunity = "64999:100"
)

var suite = &e2eutil.Suite{
	Name: "services",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		Racks:            1,
		ToRs:             1,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        agentArgs,
		NodeAnnotations: func(node *lab.Node) map[string]string {
			if node.Number == communityNode {
				return map[string]string{"nodebgp.io/communities": nodeCommunity}
			}
			return nil
		},
		ExpectSessions: expectSessions,
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-services-artifacts"),
	NeedsFRR:     true,
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
	Prepare:      prepare,
}

func torAddr() netip.Addr { return lab.ToRAddr(1, 1) }

// expectSessions: the other nodes (the mesh) and the ToR.
func expectSessions(node *lab.Node) []netip.Addr {
	out := []netip.Addr{torAddr()}
	for n := 1; n <= labNodes; n++ {
		if n != node.Number {
			out = append(out, lab.RackNodeIP(1, n))
		}
	}
	return out
}

func agentArgs(*lab.Node) []string {
	return []string{
		"--peer-router-ips=" + torAddr().String(),
		"--peer-router-asns=" + fmt.Sprint(lab.ToRASN),
		"--accept-upstream-routes",
		"--advertise-cluster-ip",
		"--advertise-external-ip",
		"--advertise-loadbalancer-ip",
	}
}

// prepare removes what an earlier run of this suite may have left in a
// reused lab: its Services and EndpointSlices.
func prepare(ctx context.Context, l *lab.Lab) error {
	return deleteAll(ctx, l)
}

// TestServices is the runbook: go test -tags e2e -run 'TestServices/02' ./e2e/services/
func TestServices(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_cluster_policy_each_address_at_the_ToR_with_ECMP_over_every_node", testClusterPolicy},
		{"02_local_policy_announced_only_from_nodes_with_a_ready_endpoint", testLocalPolicy},
		{"03_deleted_Service_withdrawn_at_the_ToR", testDelete},
		{"04_import_filter_Service_routes_from_the_ToR_or_a_node_never_reach_a_kernel", testImportFilter},
		{"05_annotation_false_withholds_the_Service", testAnnotationFalse},
		{"06_malformed_Service_gets_an_Event_and_the_others_stay_announced", testMalformed},
		{"07_rbac_the_agent's_token_lists_and_watches_Services_and_EndpointSlices_and_nothing_more", testRBAC},
		{"08_missing_permission_the_agent_still_routes_reports_it_and_recovers", testMissingPermission},
	})
}
