//go:build e2e

// Package reflectors is nodebgp's end-to-end suite for route reflectors: a
// flat lab of four nodes with iBGP on, node1 and node2 annotated
// nodebgp.io/route-reflector-cluster-id, every node-to-node session signed
// with TCP-MD5 (--mesh-password-secret). TestMain brings the lab up once in
// its own dir, writes the mesh password Secret and waits for the reflector
// topology (not a full mesh), signed; TestReflectors walks through the
// promises of reflection and of the mesh password in order, and the lab is
// always torn down, with a dump when a step failed. docs/lab.md lists the
// steps.
package reflectors

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
	// labDir is the suite's own lab state dir, so it never adopts (or tears
	// down) another suite's lab.
	labDir     = "/tmp/nodebgp-rr"
	syncPeriod = 5 * time.Second
)

// suite is the lab every test uses (suite.Lab), brought up by TestMain.
var suite = &e2eutil.Suite{
	Name:         "reflectors",
	Options:      labOptions(),
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-rr-artifacts"),
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
	Prepare:      prepareMeshPassword,
}
