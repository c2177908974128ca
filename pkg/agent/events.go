package agent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/kubeevents"
)

// Event reasons the agent records on its Node.
const (
	reasonInvalidAnnotation = "InvalidAnnotation"
	reasonPeerSkipped       = "BGPPeerSkipped"
	reasonSpeakerRestarted  = "BGPSpeakerRestarted"
	reasonSessionsDown      = "BGPSessionsDown"
	reasonSessionsUp        = "BGPSessionsUp"
	reasonNoPodCIDR         = "NoPodCIDR"
	reasonForbidden         = "Forbidden"
	reasonInvalidSetting    = "InvalidSetting"
	reasonPrefixLimit       = "BGPPrefixLimit"
)

// eventRecorder records Events (kubeevents.Recorder; client-go's
// record.FakeRecorder in tests).
type eventRecorder interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// newEventRecorder records Events as "nodebgp" from the node it runs on, so
// an operator sees bad input where it was written: `kubectl describe node`.
func (a *agent) newEventRecorder(client *kubeclient.Client) *kubeevents.Recorder {
	return kubeevents.New(kubeevents.Params{
		Sink:      client.EventSink(),
		Scheme:    kubeclient.Scheme,
		Component: "nodebgp",
		Host:      a.cfg.NodeName,
		Logger:    a.log.With("component", "events"),
	})
}

// recordSpeakerRestart tells the operator, on the Node whose annotation they
// changed, that the change took effect and what it costs: every session of
// this node is re-established (with graceful restart, peers keep its routes
// meanwhile).
func (a *agent) recordSpeakerRestart() {
	self := a.ownNode()
	if self == nil || a.events == nil || a.previous == nil {
		return
	}
	a.events.Event(self.Reference(), corev1.EventTypeNormal, reasonSpeakerRestarted,
		a.previous.Error()+"; its BGP sessions are re-established with the new identity")
}

// nodeRefEvent records an Event on this node by name alone, the way the
// kubelet does (a Node's events carry its name as UID): for when the agent
// cannot read its Node object (not allocated yet, or not allowed).
func (a *agent) nodeRefEvent(eventType, reason, msg string) {
	if a.events == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	a.events.Event(ref, eventType, reason, msg)
}
