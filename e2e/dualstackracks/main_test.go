//go:build e2e

// Package dualstackracks is nodebgp's end-to-end suite for dual-stack pods
// across racks through a real third-party ToR: two racks, one FRR ToR (AS
// 65000) that speaks IPv4 unicast on IPv4 sessions and IPv6 unicast on IPv6
// sessions, two nodes without iBGP (--enable-ibgp=false), each in its own AS
// and peering with the ToR over both families. TestMain brings the lab up
// once in its own dir, TestDualStackRacks walks through the promises in
// order, and the lab is always torn down, with a dump when a step failed.
package dualstackracks

import (
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
	// labDir is the suite's own lab state dir (short: FRR's unix socket
	// paths live under it).
	labDir     = "/tmp/nodebgp-dsracks"
	labNodes   = 2
	labRacks   = 2
	syncPeriod = 5 * time.Second
)

var suite = &e2eutil.Suite{
	Name: "dualstackracks",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		Racks:            labRacks,
		ToRs:             1,
		DualStack:        true,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        agentArgs,
		NodeAnnotations: func(node *lab.Node) map[string]string {
			return map[string]string{"nodebgp.io/asn": fmt.Sprint(nodeASN(node.Number))}
		},
		ExpectSessions: torAddrs,
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-dsracks-artifacts"),
	NeedsFRR:     true,
	OtherLabWait: 20 * time.Minute,
	DumpExtra:    e2eutil.DumpIPv6,
}

// nodeASN is node n's own AS: one per node, as in the fabric suite.
func nodeASN(n int) uint32 { return uint32(65100 + n) }

// torAddrs are the ToR's addresses in node's rack, IPv4 then IPv6: one
// session per family.
func torAddrs(node *lab.Node) []netip.Addr {
	return []netip.Addr{lab.ToRAddr(1, node.Rack), lab.ToRAddr6(1, node.Rack)}
}

// agentArgs: ToR-only peering over both families, from the flags.
func agentArgs(node *lab.Node) []string {
	tor := torAddrs(node)
	return []string{
		"--enable-ibgp=false",
		"--peer-router-ips", tor[0].String() + "," + tor[1].String(),
		"--peer-router-asns", fmt.Sprintf("%d,%d", lab.ToRASN, lab.ToRASN),
	}
}
