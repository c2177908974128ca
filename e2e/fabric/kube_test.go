//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/nodebgp/router/e2e/lab"
)

// nodeEvents lists the Events about node with reason, as `kubectl get events
// --field-selector involvedObject.name=<node>` shows them (all namespaces:
// Events about a cluster-scoped object land in "default").
func nodeEvents(ctx context.Context, l *lab.Lab, node *lab.Node, reason string) ([]corev1.Event, error) {
	cs, err := l.CP.Client()
	if err != nil {
		return nil, err
	}
	sel := fields.Set{"involvedObject.kind": "Node", "involvedObject.name": node.Name, "reason": reason}.AsSelector().String()
	list, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing events of %s: %w", node.Name, err)
	}
	return list.Items, nil
}

// findEvent returns the Event of eventType (Warning, Normal) about node with
// reason whose message has every one of parts.
func findEvent(ctx context.Context, l *lab.Lab, node *lab.Node, eventType, reason string, parts ...string) (corev1.Event, error) {
	evs, err := nodeEvents(ctx, l, node, reason)
	if err != nil {
		return corev1.Event{}, err
	}
	var seen []string
	for _, e := range evs {
		if e.Type == eventType && containsAll(e.Message, parts) {
			return e, nil
		}
		seen = append(seen, e.Message)
	}
	return corev1.Event{}, fmt.Errorf("no %s Event %s on %s with %q; messages: %q", eventType, reason, node.Name, parts, seen)
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
