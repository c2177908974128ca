//go:build e2e

// Package ecmp is nodebgp's end-to-end suite for equal-cost multipath to
// upstream routers: one rack behind two FRR ToRs (AS 65000), two nodes that
// run the agent without iBGP, each in its own AS and peering with both ToRs
// of its rack, with --accept-upstream-routes. Both ToRs announce the same
// upstream prefix. TestMain brings the lab up once in its own dir, TestECMP
// walks through the promises in order, and the lab is always torn down, with
// a dump when a step failed. docs/lab.md lists the steps.
package ecmp

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(suite.Run(m))
}

const (
	// labDir is the suite's own lab state dir (short: FRR's unix socket
	// paths live under it).
	labDir     = "/tmp/nodebgp-ecmp"
	syncPeriod = 5 * time.Second
)

// suite is the lab every test uses (suite.Lab), brought up by TestMain.
var suite = &e2eutil.Suite{
	Name:         "ecmp",
	Options:      labOptions(),
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-ecmp-artifacts"),
	NeedsFRR:     true,
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
}
