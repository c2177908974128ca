//go:build e2e

package reflectors

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodebgp/router/e2e/lab"
)

// The suite's cluster: four nodes on the flat fabric, iBGP on (the agent's
// default), node1 and node2 route reflectors of one cluster, node3 and node4
// their clients.
const (
	labNodes = 4
	// clusterID is the reflectors' nodebgp.io/route-reflector-cluster-id.
	clusterID = "10.0.0.1"
)

// reflectorNodes are the nodes annotated as route reflectors.
var reflectorNodes = []int{1, 2}

func isReflector(n int) bool { return slices.Contains(reflectorNodes, n) }

func labOptions() lab.Options {
	return lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		// The agent reads its cluster ID once, at start: the annotation
		// must be on the Node object before the agent runs.
		NodeAnnotations: func(node *lab.Node) map[string]string {
			if isReflector(node.Number) {
				return map[string]string{"nodebgp.io/route-reflector-cluster-id": clusterID}
			}
			return nil
		},
		// Not the full mesh the lab waits for by default: the sessions of
		// the reflector design.
		ExpectSessions: func(node *lab.Node) []netip.Addr { return expectedPeers(node.Number) },
	}
}

// expectedPeers is who node n peers with: a reflector with every other node,
// a client with the reflectors only.
func expectedPeers(n int) []netip.Addr {
	var peers []netip.Addr
	for m := 1; m <= labNodes; m++ {
		if m != n && (isReflector(n) || isReflector(m)) {
			peers = append(peers, lab.NodeIP(m))
		}
	}
	return peers
}
