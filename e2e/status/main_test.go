//go:build e2e

// Package status is nodebgp's end-to-end suite for what an operator sees:
// each node's BGPNodeState (nodebgp.io) and per-peer metrics, on a real lab
// (kube-apiserver with RBAC, three nodes running `router run --bfd` with a
// token bound to the manifests' own ClusterRole). TestMain brings the lab up once
// in its own dir and installs the CRD from daemonset/base; TestStatus walks
// through the promises in order; TestStatusWriteRate measures the API load
// of 100 status writers. The lab is always torn down, with a dump when a
// step failed.
package status

import (
	"context"
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
	labDir     = "/tmp/nodebgp-status"
	syncPeriod = 5 * time.Second
	labNodes   = 3
)

var suite = &e2eutil.Suite{
	Name: "status",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		// BFD on every mesh session, as an operator who wants fast failover
		// runs it: the status shows each session's BFD state, and an
		// isolated node loses its sessions in a second (not a hold time).
		AgentArgs: func(*lab.Node) []string { return []string{"--bfd"} },
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-status-artifacts"),
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
	Prepare:      func(ctx context.Context, l *lab.Lab) error { return installCRD(ctx, l) },
}
