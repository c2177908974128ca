package agent

import (
	"maps"
	"slices"

	"github.com/nodebgp/router/pkg/slimnode"
)

// routingFactsChanged tells whether a Node update touches anything the agent
// derives from Nodes: addresses, pod CIDRs, our annotations (the only ones a
// slimnode.Node keeps). Kubelet's status updates (conditions, images,
// heartbeats) do not, and in a big cluster they would otherwise start a full
// node pass on every node for every update.
func routingFactsChanged(old, cur any) bool {
	o, ok1 := old.(*slimnode.Node)
	n, ok2 := cur.(*slimnode.Node)
	if !ok1 || !ok2 {
		return true // not what we expect: let the pass look
	}
	return o.Name != n.Name ||
		o.Spec.PodCIDR != n.Spec.PodCIDR ||
		!slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) ||
		!slices.Equal(o.Status.Addresses, n.Status.Addresses) ||
		!maps.Equal(o.Annotations, n.Annotations)
}
