// Package nodestream lists and watches Nodes for the agent's informer,
// decoding the API server's JSON straight into the part of a Node the agent
// reads (slimnode.Node), one Node at a time.
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

	"sigs.k8s.io/json"

	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/slimnode"
)

// decode reads a Node's JSON into n: the fields slimnode.Node keeps (name,
// UID, resourceVersion, creationTimestamp, deletionTimestamp, the nodebgp.io/
// annotations, spec.podCIDR(s), status.addresses), their values decoded as
// client-go decodes them (sigs.k8s.io/json into the same Go types), the rest
// skipped unread. As with encoding/json, a key given twice decodes twice into
// the same field.
func decode(n *slimnode.Node, b []byte) error {
	end, err := decodeAt(n, b, 0, 0)
	if err != nil {
		return err
	}
	return onlySpace(b, end)
}

// decodeAt decodes the Node at b[i], in one pass over its bytes, and returns
// the offset past it.
func decodeAt(n *slimnode.Node, b []byte, i, depth int) (int, error) {
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
			return objectAt(b, i, depth, "metadata", true, func(key string, b []byte, i, depth int) (int, error) {
				return metadataField(&n.ObjectMeta, key, b, i, depth)
			})
		case "spec":
			return objectAt(b, i, depth, "spec", true, func(key string, b []byte, i, depth int) (int, error) {
				switch key {
				case "podCIDR":
					return decodeValue(b, i, depth, "spec.podCIDR", &n.Spec.PodCIDR)
				case "podCIDRs":
					return decodeValue(b, i, depth, "spec.podCIDRs", &n.Spec.PodCIDRs)
				}
				return skipValue(b, i, depth)
			})
		case "status":
			return objectAt(b, i, depth, "status", true, func(key string, b []byte, i, depth int) (int, error) {
				if key == "addresses" {
					return decodeValue(b, i, depth, "status.addresses", &n.Status.Addresses)
				}
				return skipValue(b, i, depth)
			})
		}
		return skipValue(b, i, depth)
	})
}

func metadataField(m *slimnode.ObjectMeta, key string, b []byte, i, depth int) (int, error) {
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

// decodeNode decodes one Node's JSON into a slimnode.Node.
func decodeNode(b []byte) (*slimnode.Node, error) {
	n := &slimnode.Node{}
	if err := decode(n, b); err != nil {
		return nil, nodeError(b, err)
	}
	return n, nil
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
