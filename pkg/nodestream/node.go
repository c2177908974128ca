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
// the informer's update filter, the Events on its own Node): name, UID,
// resourceVersion, creationTimestamp, deletionTimestamp, the nodebgp.io/
// annotations, spec.podCIDR(s) and status.addresses. It is the one list of
// kept fields: decode fills it from JSON, and Trim copies a full Node through
// it. A new reader of another field must add it here and in decode.
type slimNode struct {
	Metadata struct {
		Name              string
		UID               types.UID
		ResourceVersion   string
		CreationTimestamp metav1.Time
		DeletionTimestamp *metav1.Time
		Annotations       map[string]string // ours only
	}
	Spec struct {
		PodCIDR  string
		PodCIDRs []string
	}
	Status struct {
		Addresses []corev1.NodeAddress
	}
}

// decode reads a Node's JSON, decoding the kept fields' values as client-go
// decodes them (sigs.k8s.io/json into the same Go types) and skipping the
// rest unread. As with encoding/json, a key given twice decodes twice into
// the same field.
func (s *slimNode) decode(b []byte) error {
	end, err := s.decodeAt(b, 0, 0)
	if err != nil {
		return err
	}
	return onlySpace(b, end)
}

// decodeAt decodes the Node at b[i], in one pass over its bytes, and returns
// the offset past it.
func (s *slimNode) decodeAt(b []byte, i, depth int) (int, error) {
	return objectAt(b, i, depth, "node", false, func(key string, b []byte, i, depth int) (int, error) {
		switch key {
		case "kind":
			var kind string
			end, err := decodeValue(b, i, depth, "kind", &kind)
			if err == nil && kind != "" && kind != "Node" {
				err = fmt.Errorf("kind %q, want Node", kind)
			}
			return end, err
		case "metadata":
			return objectAt(b, i, depth, "metadata", true, s.metadataField)
		case "spec":
			return objectAt(b, i, depth, "spec", true, func(key string, b []byte, i, depth int) (int, error) {
				switch key {
				case "podCIDR":
					return decodeValue(b, i, depth, "spec.podCIDR", &s.Spec.PodCIDR)
				case "podCIDRs":
					return decodeValue(b, i, depth, "spec.podCIDRs", &s.Spec.PodCIDRs)
				}
				return skipValue(b, i, depth)
			})
		case "status":
			return objectAt(b, i, depth, "status", true, func(key string, b []byte, i, depth int) (int, error) {
				if key == "addresses" {
					return decodeValue(b, i, depth, "status.addresses", &s.Status.Addresses)
				}
				return skipValue(b, i, depth)
			})
		}
		return skipValue(b, i, depth)
	})
}

func (s *slimNode) metadataField(key string, b []byte, i, depth int) (int, error) {
	m := &s.Metadata
	switch key {
	case "name":
		return decodeValue(b, i, depth, "metadata.name", &m.Name)
	case "uid":
		return decodeValue(b, i, depth, "metadata.uid", &m.UID)
	case "resourceVersion":
		return decodeValue(b, i, depth, "metadata.resourceVersion", &m.ResourceVersion)
	case "creationTimestamp":
		return decodeValue(b, i, depth, "metadata.creationTimestamp", &m.CreationTimestamp)
	case "deletionTimestamp":
		return decodeValue(b, i, depth, "metadata.deletionTimestamp", &m.DeletionTimestamp)
	case "annotations":
		if i < len(b) && b[i] == 'n' {
			m.Annotations = nil // as encoding/json does for a map
			return skipLiteral(b, i, "null")
		}
		return objectAt(b, i, depth, "metadata.annotations", false, func(key string, b []byte, i, depth int) (int, error) {
			if !strings.HasPrefix(key, peering.AnnotationPrefix) {
				return skipValue(b, i, depth)
			}
			var val string
			end, err := decodeValue(b, i, depth, "metadata.annotations."+key, &val)
			if err != nil {
				return end, err
			}
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[key] = val
			return end, nil
		})
	}
	return skipValue(b, i, depth)
}

// field decodes one kept field's JSON value into v.
func field(b []byte, name string, v any) error {
	if err := json.UnmarshalCaseSensitivePreserveInts(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
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
	if err := s.decode(b); err != nil {
		return nil, nodeError(b, err)
	}
	return s.node(), nil
}

// nodeError names the Node whose JSON did not decode, if its name can be
// read at all.
func nodeError(b []byte, err error) error {
	var name string
	_, _ = objectAt(b, 0, 0, "node", false, func(key string, b []byte, i, depth int) (int, error) {
		if key != "metadata" {
			return skipValue(b, i, depth)
		}
		return objectAt(b, i, depth, "metadata", true, func(key string, b []byte, i, depth int) (int, error) {
			if key != "name" {
				return skipValue(b, i, depth)
			}
			return decodeValue(b, i, depth, "metadata.name", &name)
		})
	})
	if name != "" {
		return fmt.Errorf("node %q: %w", name, err)
	}
	return fmt.Errorf("node: %w", err)
}
