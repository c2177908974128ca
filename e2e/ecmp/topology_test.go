//go:build e2e

package ecmp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nodebgp/router/e2e/lab"
)

// The suite's fabric: one rack behind two FRR ToRs, two nodes, each in its
// own AS and peering with both ToRs.
const (
	labNodes = 2
	labRacks = 1
	labToRs  = 2
)

// upstream is the prefix both ToRs announce, as two routers of one fabric
// announce the same external network (TEST-NET-2: never routed anywhere).
var upstream = netip.MustParsePrefix("198.51.100.0/24")

// nodeASN is node n's own AS (nodebgp.io/asn): the ToRs pass one node's pod
// CIDR to the other without an AS-path loop.
func nodeASN(n int) uint32 { return uint32(65100 + n) }

// torAddrs are the addresses node peers with: each ToR's leg in its rack.
func torAddrs(node *lab.Node) []netip.Addr {
	addrs := make([]netip.Addr, 0, labToRs)
	for t := 1; t <= labToRs; t++ {
		addrs = append(addrs, lab.ToRAddr(t, node.Rack))
	}
	return addrs
}

func labOptions() lab.Options {
	return lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		Racks:            labRacks,
		ToRs:             labToRs,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        agentArgs,
		NodeAnnotations: func(node *lab.Node) map[string]string {
			return map[string]string{"nodebgp.io/asn": fmt.Sprint(nodeASN(node.Number))}
		},
		ExpectSessions: torAddrs,
	}
}

// agentArgs: ToR-only peering with both ToRs of the rack, taking the
// upstream routes they announce.
func agentArgs(node *lab.Node) []string {
	var ips []string
	for _, a := range torAddrs(node) {
		ips = append(ips, a.String())
	}
	return []string{
		"--enable-ibgp=false",
		"--peer-router-ips=" + strings.Join(ips, ","),
		"--peer-router-asns=" + fmt.Sprint(lab.ToRASN),
		"--accept-upstream-routes",
	}
}
