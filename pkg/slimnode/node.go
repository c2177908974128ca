// Package slimnode is the agent's copy of a Kubernetes Node: the few fields
// it reads, and nothing else.
//
// Why a type of its own: a corev1.Node is a 744-byte struct however little
// of it is filled, and the agent keeps one per Node of the cluster in its
// informer cache (5.1 of a 21 MiB live heap at 5,000 kubelet-sized Nodes;
// docs/benchmarks.md, issue 12). A Node here is 152 bytes. Its fields keep
// corev1.Node's names and nesting (n.Name, n.Spec.PodCIDRs,
// n.Status.Addresses), so code reads it as it would read the API type.
//
// pkg/nodestream decodes the API server's JSON straight into it.
package slimnode

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Node is the part of a Node the agent reads (nodeinfo, plan, peering,
// podcidr, the informer's update filter, `router check`, the Events on its
// own Node). A new reader of another field adds it here and to
// pkg/nodestream's decoder.
type Node struct {
	ObjectMeta
	Spec   NodeSpec
	Status NodeStatus
}

// ObjectMeta is the part of metadata the agent reads.
type ObjectMeta struct {
	Name              string
	UID               types.UID
	ResourceVersion   string
	CreationTimestamp metav1.Time
	DeletionTimestamp *metav1.Time
	// Annotations are the nodebgp.io/ ones only (a watch bookmark's are all
	// of its own); nil when there are none.
	Annotations map[string]string
}

// NodeSpec is the part of spec the agent reads.
type NodeSpec struct {
	PodCIDR  string
	PodCIDRs []string
}

// NodeStatus is the part of status the agent reads.
type NodeStatus struct {
	Addresses []corev1.NodeAddress
}

// The informer cache holds Nodes: they are runtime.Objects, and client-go
// reads their metadata (key, resourceVersion) through GetObjectMeta.
var (
	_ runtime.Object            = (*Node)(nil)
	_ metav1.ObjectMetaAccessor = (*Node)(nil)
	_ runtime.Object            = (*List)(nil)
	_ metav1.ListMetaAccessor   = (*List)(nil)
)

// GetObjectKind: a Node carries no kind of its own; the informer is told its
// type by an example object.
func (n *Node) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy sharing nothing with n.
func (n *Node) DeepCopyObject() runtime.Object { return n.DeepCopy() }

// DeepCopy returns a copy sharing nothing with n.
func (n *Node) DeepCopy() *Node {
	if n == nil {
		return nil
	}
	c := *n
	if n.DeletionTimestamp != nil {
		t := *n.DeletionTimestamp
		c.DeletionTimestamp = &t
	}
	c.Annotations = maps.Clone(n.Annotations)
	c.Spec.PodCIDRs = slices.Clone(n.Spec.PodCIDRs)
	c.Status.Addresses = slices.Clone(n.Status.Addresses)
	return &c
}

// GetObjectMeta returns n's metadata as the API type, a copy made per call:
// client-go reads names and resource versions through it, once per event,
// and the cache keeps no ObjectMeta per Node.
func (n *Node) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{
		Name:              n.Name,
		UID:               n.UID,
		ResourceVersion:   n.ResourceVersion,
		CreationTimestamp: n.CreationTimestamp,
		DeletionTimestamp: n.DeletionTimestamp,
		Annotations:       n.Annotations,
	}
}

// Reference is what an Event on n names.
func (n *Node) Reference() *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion}
}

// List is a NodeList of Nodes.
type List struct {
	metav1.ListMeta
	Items []Node
}

// GetObjectKind: see Node's.
func (l *List) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy sharing nothing with l.
func (l *List) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	c := &List{}
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	if l.Items != nil {
		c.Items = make([]Node, len(l.Items))
		for i := range l.Items {
			c.Items[i] = *l.Items[i].DeepCopy()
		}
	}
	return c
}
