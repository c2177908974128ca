//go:build e2e

// Package e2e is nodebgp's end-to-end suite: one real lab (a kube-apiserver,
// three nodes in network namespaces running `router run`, a pod on each) is
// brought up once by TestMain, TestE2E walks through the product's promises in
// a fixed order, and the lab is always torn down afterwards. docs/lab.md says
// how to run one step and how to read a failed run.
package e2e

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
	// down the dir of) a lab someone brought up with `make lab`.
	labDir = "/tmp/nodebgp-e2e"
	// syncPeriod is the agents' --routes-sync-period; repair deadlines are
	// multiples of it.
	syncPeriod = 5 * time.Second
	labNodes   = 3
)

// suite is the lab every test uses (suite.Lab), brought up by TestMain. It
// refuses to run beside another lab instead of waiting for it.
var suite = &e2eutil.Suite{
	Name: "e2e",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
	},
	Artifacts: e2eutil.ArtifactsDir("nodebgp-e2e-artifacts"),
}
