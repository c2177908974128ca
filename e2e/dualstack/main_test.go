//go:build e2e

// Package dualstack is nodebgp's end-to-end suite for dual-stack nodes: a
// flat lab of two nodes, each with an IPv4 and an IPv6 InternalIP and pod
// CIDR (lab.Options.DualStack), a pod on each. TestMain brings the lab up once
// in its own dir, TestDualStack walks through the promises of IPv6 routing in
// order (sessions per family, kernel routes, pod traffic over IPv6, IPv4
// unchanged), and the lab is always torn down, with a dump when a step failed.
package dualstack

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
	// labDir is the suite's own lab state dir, so it never adopts (or tears
	// down) another suite's lab.
	labDir     = "/tmp/nodebgp-dualstack"
	labNodes   = 2
	syncPeriod = 5 * time.Second
)

// suite is the lab every test uses (suite.Lab), brought up by TestMain. Its
// dumps add every node's IPv6 routes and addresses.
var suite = &e2eutil.Suite{
	Name: "dualstack",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		DualStack:        true,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-dualstack-artifacts"),
	OtherLabWait: 20 * time.Minute,
	DumpExtra:    e2eutil.DumpIPv6,
}
