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

	// The mesh's TCP-MD5 password lives in the one Secret the agent's Role
	// (daemonset/base/rbac.yaml) lets it get, under the key "password".
	passwordSecretNamespace = "kube-system"
	passwordSecretName      = "nodebgp-peer-passwords"
	meshPassword            = "rr-mesh-md5-7f3c"
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
		AgentArgs: agentArgs,
		// Up waits for no session: every agent wants the mesh password, and
		// its Secret can only be written once Up has made the control plane
		// (and started the agents). prepareMeshPassword writes it, then
		// waits for the sessions of the reflector design, signed.
		ExpectSessions: func(*lab.Node) []netip.Addr { return nil },
	}
}

// unsignedNode is the node whose agent runs without --mesh-password-secret
// (0: none). Step 05 sets it and restarts that agent; the lab reads it
// whenever it starts an agent.
var unsignedNode int

// agentArgs: every node signs its node-to-node sessions with the mesh
// password, except unsignedNode.
func agentArgs(node *lab.Node) []string {
	if node.Number == unsignedNode {
		return nil
	}
	return []string{"--mesh-password-secret", passwordSecretNamespace + "/" + passwordSecretName}
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
