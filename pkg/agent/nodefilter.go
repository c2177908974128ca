package agent

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
// the agent reads (nodeinfo, plan, peering, routingFactsChanged, the Events
// on our Node) — name, UID, resourceVersion, creationTimestamp, the
// nodebgp.io/ annotations, spec.podCIDR(s) and status.addresses — and drops
// the rest before the cache stores it. Kubelets fill a Node with images,
// conditions, capacity, labels and managed fields: several KiB each, times
// every Node of the cluster, on every node. A new reader of another field
// must add it here. It leaves anything but a Node as it is, and a trimmed
// Node trims to itself.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	t := &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              n.Name,
			UID:               n.UID,
			ResourceVersion:   n.ResourceVersion,
			CreationTimestamp: n.CreationTimestamp,
			DeletionTimestamp: n.DeletionTimestamp,
		},
	}
	if ours := ourAnnotations(n); len(ours) > 0 {
		t.Annotations = ours
	}
	t.Spec.PodCIDR = n.Spec.PodCIDR
	t.Spec.PodCIDRs = n.Spec.PodCIDRs
	t.Status.Addresses = n.Status.Addresses
	return t, nil
}
