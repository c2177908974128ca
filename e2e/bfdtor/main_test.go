//go:build e2e

// Package bfdtor is nodebgp's end-to-end suite for BFD with ToRs running
// FRR's bfdd: one rack behind two FRR ToRs, two nodes peering eBGP with
// both (ToR-only, each node in its own AS) with --peer-router-bfd, the ToRs
// with every node as an explicit neighbor, `neighbor NODES bfd` and a
// 300 ms x 3 profile. The lab starts only
// zebra and bgpd on its ToRs, so Prepare starts bfdd beside them (as a lab
// process, stopped with the ToR's other daemons) and turns BFD on in bgpd.
package bfdtor

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// torCoalesce, when set, is the ToRs' coalesce-time (FRR's default is about
// a second), to see what it does to a recovered session's routes.
var torCoalesce = flag.Duration("bfdtor.tor-coalesce-time", 0, "set the ToRs' coalesce-time; 0 leaves FRR's default")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(suite.Run(m))
}

const (
	labDir     = "/tmp/nodebgp-bfdtor"
	labNodes   = 2
	labToRs    = 2
	syncPeriod = 5 * time.Second
)

var suite = &e2eutil.Suite{
	Name: "bfdtor",
	Options: lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		Racks:            1,
		ToRs:             labToRs,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        agentArgs,
		NodeAnnotations: func(node *lab.Node) map[string]string {
			return map[string]string{"nodebgp.io/asn": fmt.Sprint(65100 + node.Number)}
		},
		ExpectSessions: torAddrs,
	},
	Artifacts:    e2eutil.ArtifactsDir("nodebgp-bfdtor-artifacts"),
	NeedsFRR:     true,
	OtherLabWait: 20 * time.Minute,
	OwnsEtcd:     true,
	Prepare:      startBFDOnToRs,
}

func torAddrs(node *lab.Node) []netip.Addr {
	var out []netip.Addr
	for t := 1; t <= labToRs; t++ {
		out = append(out, lab.ToRAddr(t, node.Rack))
	}
	return out
}

func agentArgs(node *lab.Node) []string {
	var ips []string
	for _, a := range torAddrs(node) {
		ips = append(ips, a.String())
	}
	return []string{
		"--enable-ibgp=false",
		"--peer-router-ips=" + strings.Join(ips, ","),
		"--peer-router-asns=" + fmt.Sprint(lab.ToRASN),
		"--peer-router-bfd=true",
		"--accept-upstream-routes",
	}
}

// startBFDOnToRs sets the ToRs up as docs/peering.md recommends: every
// node an explicit neighbor (a listen range's dynamic neighbor loses its BFD
// session with its BGP session, so BFD could not say when the path is back),
// bfdd running, BFD on for the nodes' peer group (profile 300 ms x 3).
func startBFDOnToRs(ctx context.Context, l *lab.Lab) error {
	var nodes []netip.Addr
	for _, n := range l.Nodes {
		nodes = append(nodes, n.IP)
	}
	for _, tor := range l.ToRs {
		if err := tor.ExplicitNeighbors(ctx, nodes...); err != nil {
			return err
		}
		if *torCoalesce > 0 {
			if err := tor.SetCoalesceTime(ctx, *torCoalesce); err != nil {
				return err
			}
		}
		if err := tor.StartBFD(ctx); err != nil {
			return err
		}
	}
	return nil
}

// TestBFDToR is the runbook: go test -tags e2e -run 'TestBFDToR/02' ./e2e/bfdtor/
func TestBFDToR(t *testing.T) {
	suite.Lab(t)
	suite.RunSteps(t, e2eutil.Steps{
		{"01_sessions_BFD_is_Up_with_both_ToRs_with_the_timers_configured", testSessions},
		{"02_ToR_fails_its_routes_leave_the_kernel_and_traffic_moves_to_the_other_ToR", testToRFails},
		{"03_planned_restart_FRR_keeps_the_node's_routes", testPlannedRestart},
	})
}
