package agent

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/pkg/nodestream"
	"github.com/nodebgp/router/pkg/peering"
)

// routingFactsChanged tells whether a Node update touches anything the agent
// derives from Nodes: addresses, pod CIDRs, our annotations. Kubelet's
// status updates (conditions, images, heartbeats) do not, and in a big cluster
// they would otherwise start a full node pass on every node for every update.
func routingFactsChanged(old, cur any) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := cur.(*corev1.Node)
	if !ok1 || !ok2 {
		return true // not what we expect: let the pass look
	}
	return o.Name != n.Name ||
		o.Spec.PodCIDR != n.Spec.PodCIDR ||
		!slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) ||
		!slices.Equal(o.Status.Addresses, n.Status.Addresses) ||
		!maps.Equal(ourAnnotations(o), ourAnnotations(n))
}

func ourAnnotations(n *corev1.Node) map[string]string {
	out := map[string]string{}
	for k, v := range n.Annotations {
		if strings.HasPrefix(k, peering.AnnotationPrefix) {
			out[k] = v
		}
	}
	return out
}

// trimNode is the node informer's transform: it keeps of a Node only what
// the agent reads (nodestream.Trim, where the kept fields are listed). The
// node ListWatch (nodestream) already decodes Nodes in that form; this guards
// any other path into the cache. It leaves anything but a Node as it is, and
// a trimmed Node trims to itself.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return nodestream.Trim(n), nil
}
