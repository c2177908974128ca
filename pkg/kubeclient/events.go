package kubeclient

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// EventSink writes Events in each Event's own namespace, as client-go's
// typed EventSinkImpl does (pkg/kubeevents decides what to write).
type EventSink struct{ client rest.Interface }

// EventSink returns the client's EventSink.
func (c *Client) EventSink() EventSink { return EventSink{c.Core} }

// Create writes a new Event.
func (s EventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := s.client.Post().NamespaceIfScoped(e.Namespace, e.Namespace != "").Resource("events").
		Body(e).Do(context.Background()).Into(out)
	return out, err
}

// Patch changes an Event already written (its count, when it happened again).
func (s EventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	out := &corev1.Event{}
	err := s.client.Patch(types.StrategicMergePatchType).NamespaceIfScoped(e.Namespace, e.Namespace != "").
		Resource("events").Name(e.Name).Body(data).Do(context.Background()).Into(out)
	return out, err
}
