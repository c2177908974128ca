//go:build e2e

// Package fabric is nodebgp's end-to-end suite for racks behind a real
// third-party ToR: two racks, one FRR ToR (AS 65000), four nodes that run
// the agent without iBGP (--enable-ibgp=false), each in its own AS
// (nodebgp.io/asn 6510N) and peering only with its rack's ToR. TestMain
// brings the lab up once in its own dir, TestFabric walks through the
// promises of upstream peering in order, and the lab is always torn down.
// docs/lab.md lists the steps.
package fabric

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
	labDir     = "/tmp/nodebgp-fabric"
	syncPeriod = 5 * time.Second
)

// suite is the lab every test uses (suite.Lab), brought up by TestMain and
// prepared by prepareFabric.
var suite = &e2eutil.Suite{
	Name:         "fabric",
	Options:      labOptions(),
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-fabric-artifacts"),
	NeedsFRR:     true,
	OtherLabWait: 20 * time.Minute,
	Prepare:      prepareFabric,
}
