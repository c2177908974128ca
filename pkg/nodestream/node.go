// Package nodestream lists and watches Nodes for the agent's informer,
// decoding the API server's JSON straight into the part of a Node the agent
// reads (Trim), one Node at a time.
//
// Why: kubelets fill a Node with images, conditions, capacity, labels and
// managed fields (14.5 KiB of JSON with 50 images). client-go's typed client
// decodes all of it, and an informer's transform runs only afterwards: the
// informer's first list held every full Node of the cluster at once (334-365
// MiB at 5,000 Nodes), and every watch event of a kubelet heartbeat decoded a
// whole Node only to drop it (85% of the agent's allocations under Node churn;
// docs/benchmarks.md, issue 12). Here the fields the agent does not read are
// skipped by the JSON scanner and never become Go values.
package nodestream

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/json"

	"github.com/nodebgp/router/pkg/peering"
)

// slimNode is the part of a Node the agent reads (nodeinfo, plan, peering,
// the informer's update filter, the Events on its own Node), as the API
// server writes it in JSON: name, UID, resourceVersion, creationTimestamp,
// deletionTimestamp, the nodebgp.io/ annotations, spec.podCIDR(s) and
// status.addresses. It is the one list of kept fields: the decoders fill it,
// and Trim copies a full Node through it. A new reader of another field must
// add it here.
type slimNode struct {
	Metadata struct {
		Name              string         `json:"name"`
		UID               types.UID      `json:"uid"`
		ResourceVersion   string         `json:"resourceVersion"`
		CreationTimestamp metav1.Time    `json:"creationTimestamp"`
		DeletionTimestamp *metav1.Time   `json:"deletionTimestamp"`
		Annotations       ourAnnotations `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
	Status struct {
		Addresses []corev1.NodeAddress `json:"addresses"`
	} `json:"status"`
}

func (s *slimNode) node() *corev1.Node {
	n := &corev1.Node{}
	s.into(n)
	return n
}

func (s *slimNode) into(n *corev1.Node) {
	n.Name = s.Metadata.Name
	n.UID = s.Metadata.UID
	n.ResourceVersion = s.Metadata.ResourceVersion
	n.CreationTimestamp = s.Metadata.CreationTimestamp
	n.DeletionTimestamp = s.Metadata.DeletionTimestamp
	if len(s.Metadata.Annotations) > 0 {
		n.Annotations = s.Metadata.Annotations
	}
	n.Spec.PodCIDR = s.Spec.PodCIDR
	n.Spec.PodCIDRs = s.Spec.PodCIDRs
	n.Status.Addresses = s.Status.Addresses
}

func slimOf(n *corev1.Node) *slimNode {
	s := &slimNode{}
	s.Metadata.Name = n.Name
	s.Metadata.UID = n.UID
	s.Metadata.ResourceVersion = n.ResourceVersion
	s.Metadata.CreationTimestamp = n.CreationTimestamp
	s.Metadata.DeletionTimestamp = n.DeletionTimestamp
	s.Metadata.Annotations = ours(n.Annotations)
	s.Spec.PodCIDR = n.Spec.PodCIDR
	s.Spec.PodCIDRs = n.Spec.PodCIDRs
	s.Status.Addresses = n.Status.Addresses
	return s
}

// Trim returns a Node holding only what the agent reads of n (slimNode's
// fields, and n's TypeMeta). It is the informer's transform, the guard for a
// Node that reached the cache another way; a trimmed Node trims to itself,
// and a decoded one is already trimmed.
func Trim(n *corev1.Node) *corev1.Node {
	t := slimOf(n).node()
	t.TypeMeta = n.TypeMeta
	return t
}

// ourAnnotations decodes a Node's annotations keeping only the nodebgp.io/
// ones; nil when there are none.
type ourAnnotations map[string]string

func (a *ourAnnotations) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil // as encoding/json does for a map
		return nil
	}
	var all map[string]string
	if err := json.UnmarshalCaseSensitivePreserveInts(b, &all); err != nil {
		return err
	}
	// Merged into what is there, as encoding/json does for a map, so that a
	// repeated key decodes as client-go decodes it.
	for k, v := range ours(all) {
		if *a == nil {
			*a = ourAnnotations{}
		}
		(*a)[k] = v
	}
	return nil
}

func ours(all map[string]string) map[string]string {
	var out map[string]string
	for k, v := range all {
		if strings.HasPrefix(k, peering.AnnotationPrefix) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// decodeNode decodes one Node's JSON into its trimmed form.
func decodeNode(b []byte) (*corev1.Node, error) {
	var s slimNode
	if err := json.UnmarshalCaseSensitivePreserveInts(b, &s); err != nil {
		return nil, nodeError(b, err)
	}
	return s.node(), nil
}

// nodeError names the Node whose JSON did not decode, if its name can be
// read at all.
func nodeError(b []byte, err error) error {
	var named struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.UnmarshalCaseSensitivePreserveInts(b, &named) == nil && named.Metadata.Name != "" {
		return fmt.Errorf("node %q: %w", named.Metadata.Name, err)
	}
	return fmt.Errorf("node: %w", err)
}
