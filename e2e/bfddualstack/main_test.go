//go:build e2e

// Package bfddualstack is nodebgp's end-to-end suite for BFD on dual-stack
// node sessions: two nodes with an IPv4 and an IPv6 InternalIP
// (lab.Options.DualStack), an iBGP session per family, --bfd. TestBFDDualStack
// walks through the promises in order (a BFD session per family, both Up; a
// fault of the IPv6 path alone noticed within the detection time, the IPv4
// routes untouched; the path healed and the IPv6 routes back), and the lab is
// always torn down, with a dump when a step failed.
package bfddualstack

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
	labDir     = "/tmp/nodebgp-bfddualstack"
	labNodes   = 2
	syncPeriod = 5 * time.Second
)

var suite = &e2eutil.Suite{
	Name: "bfddualstack",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		DualStack:        true,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        func(*lab.Node) []string { return []string{"--bfd"} },
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-bfddualstack-artifacts"),
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
	DumpExtra:    e2eutil.DumpIPv6,
}

// TestBFDDualStack is the runbook: go test -tags e2e -run 'TestBFDDualStack/02' ./e2e/bfddualstack/
func TestBFDDualStack(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_BFD_is_Up_on_both_families", testSessions},
		{"02_IPv6_path_fails_its_routes_leave_within_the_detection_time_IPv4_stays", testIPv6Fault},
	})
}
