//go:build e2e

// Package bfd is nodebgp's end-to-end suite for BFD between nodes: three
// nodes on one flat fabric, an iBGP mesh with --bfd (300 ms x 3), a pod on
// each. TestMain brings the lab up in its own dir, TestBFD walks through
// the promises in order (sessions up, a dead node noticed in under a
// second, a healed node back in seconds, a flapping link, a planned
// restart), and the lab is always torn down, with a dump when a step
// failed. The ToR side (FRR's bfdd) is issue 11's part 5, to come with the
// lab's ToRs running bfdd.
package bfd

import (
	"flag"
	"fmt"
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
	labDir     = "/tmp/nodebgp-bfd"
	labNodes   = 3
	syncPeriod = 5 * time.Second
)

var suite = &e2eutil.Suite{
	Name: "bfd",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        func(*lab.Node) []string { return []string{"--bfd"} },
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-bfd-artifacts"),
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
}

// TestBFD is the runbook; each step restores what it changed, also when it
// fails: go test -tags e2e -run 'TestBFD/02' ./e2e/bfd/
func TestBFD(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_BFD_is_Up_between_every_pair_of_nodes", testSessions},
		{"02_node_dies_its_pod_CIDR_leaves_the_other_kernels_within_the_detection_time", testNodeDies},
		{"03_flapping_link_neither_crashes_nor_leaks_and_routes_settle", testFlap},
		{"04_planned_restart_loses_no_ping_with_BFD_on", testPlannedRestart},
	})
}
