//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// The suite's fabric: 2 racks behind one FRR ToR, four nodes dealt
// round-robin (node1, node3 in rack 1; node2, node4 in rack 2).
const (
	labNodes = 4
	labRacks = 2
	// wrongPasswordNode's ToR session needs a TCP-MD5 password the Secret
	// gets wrong; rightPasswordNode's gets it right.
	wrongPasswordNode = 3
	rightPasswordNode = 4
	// acceptingNode runs with --accept-upstream-routes (step 07's max-prefix
	// limit acts on routes it would otherwise take).
	acceptingNode = 2
	// communityNode tags its routes with communities by annotation.
	communityNode = 1

	passwordSecretNamespace = "kube-system"
	// passwordSecretName is the Secret the agent's Role (daemonset/base/
	// rbac.yaml) allows it to get.
	passwordSecretName = "nodebgp-peer-passwords"
)

var (
	// torPasswords are what the ToR requires, by node number.
	torPasswords = map[int]string{wrongPasswordNode: "fabric-pw3", rightPasswordNode: "fabric-pw4"}
	// nodeCommunities and nodeLargeCommunities are communityNode's
	// nodebgp.io/communities and nodebgp.io/large-communities.
	nodeCommunities      = []string{"64999:100", "64999:200"}
	nodeLargeCommunities = []string{"64999:1:2"}
)

// nodeASN is node n's own AS (nodebgp.io/asn): every node its own, so the ToR
// passes one rack's routes to the other without an AS-path loop.
func nodeASN(n int) uint32 { return uint32(65100 + n) }

// torAddr is the address the node peers with: the ToR's leg in its rack.
func torAddr(node *lab.Node) netip.Addr { return lab.ToRAddr(1, node.Rack) }

func labOptions() lab.Options {
	return lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		Racks:            labRacks,
		ToRs:             1,
		ToRPasswords:     torPasswords,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
		AgentArgs:        agentArgs,
		NodeAnnotations:  nodeAnnotations,
		// The password nodes come up only once prepareFabric has written
		// the Secret; Up waits for the others' ToR sessions.
		ExpectSessions: func(node *lab.Node) []netip.Addr {
			if _, ok := torPasswords[node.Number]; ok {
				return nil
			}
			return []netip.Addr{torAddr(node)}
		},
	}
}

// agentArgs: ToR-only peering, as a routed data-centre fabric runs it.
func agentArgs(node *lab.Node) []string {
	args := []string{
		"--enable-ibgp=false",
		"--peer-router-ips", torAddr(node).String(),
		"--peer-router-asns", fmt.Sprint(lab.ToRASN),
	}
	if _, ok := torPasswords[node.Number]; ok {
		args = append(args, "--peer-router-password-secret", passwordSecretNamespace+"/"+passwordSecretName)
	}
	if node.Number == acceptingNode {
		args = append(args, "--accept-upstream-routes")
	}
	return args
}

func nodeAnnotations(node *lab.Node) map[string]string {
	ann := map[string]string{"nodebgp.io/asn": fmt.Sprint(nodeASN(node.Number))}
	if node.Number == communityNode {
		ann["nodebgp.io/communities"] = strings.Join(nodeCommunities, ",")
		ann["nodebgp.io/large-communities"] = strings.Join(nodeLargeCommunities, ",")
	}
	return ann
}

// passwordSecretData has one key per ToR address, as the agent looks the
// password up: rack 1's (wrongPasswordNode's) is wrong, rack 2's right.
func passwordSecretData() map[string][]byte {
	return map[string][]byte{
		lab.ToRAddr(1, lab.NodeRack(wrongPasswordNode, labRacks)).String(): []byte("not-" + torPasswords[wrongPasswordNode]),
		lab.ToRAddr(1, lab.NodeRack(rightPasswordNode, labRacks)).String(): []byte(torPasswords[rightPasswordNode]),
	}
}

// prepareFabric finishes what the lab does not make: the password Secret
// and, as hosts in a ToR-only rack have, a default route via the rack's ToR.
func prepareFabric(ctx context.Context, l *lab.Lab) error {
	cs, err := l.CP.Client()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: passwordSecretName, Namespace: passwordSecretNamespace},
		Data:       passwordSecretData(),
	}
	fmt.Printf("fabric: Secret %s/%s with the ToR passwords (keys %s, %s)\n", passwordSecretNamespace, passwordSecretName,
		lab.ToRAddr(1, 1), lab.ToRAddr(1, 2))
	_, err = cs.CoreV1().Secrets(passwordSecretNamespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Secret %s/%s: %w", passwordSecretNamespace, passwordSecretName, err)
	}
	for _, n := range l.Nodes {
		fmt.Printf("fabric: %s: default route via its ToR %s\n", n.Name, torAddr(n))
		if _, err := e2eutil.Run(ctx, "ip", "-n", n.Netns, "route", "replace", "default", "via", torAddr(n).String()); err != nil {
			return fmt.Errorf("node %s: default route: %w", n.Name, err)
		}
	}
	return nil
}
