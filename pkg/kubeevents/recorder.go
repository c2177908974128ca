// Package kubeevents records Kubernetes Events about the objects the agent
// acts on (its Node, a Service), where an operator looks: `kubectl describe`.
// It writes them as client-go's event recorder does (the same Event objects,
// a repeated Event counted on the existing object, a per-object rate limit),
// without what that recorder links for its other uses: its strategic-merge
// patches pull in Kubernetes' OpenAPI libraries, which nothing else in the
// router needs (3.7 MB of the binary, about 5 MiB of an agent's memory).
package kubeevents

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/reference"
)

// Sink writes Events to the API server (kubeclient.Client.EventSink).
type Sink interface {
	Create(e *corev1.Event) (*corev1.Event, error)
	Patch(e *corev1.Event, data []byte) (*corev1.Event, error)
}

// Params configure a Recorder; zero values take the defaults.
type Params struct {
	Sink Sink
	// Scheme names the kinds of the objects Events are about (an object
	// from an informer carries no kind of its own).
	Scheme *runtime.Scheme
	// Component and Host are the Events' source: "nodebgp" and the node.
	Component, Host string
	Logger          *slog.Logger
	Now             func() time.Time
	// QueueSize bounds the Events waiting to be written (default 1000):
	// beyond it Event drops, so that a slow API server never blocks a loop.
	QueueSize int
	// Retries is how often a failed write is tried again (default 4), the
	// waits doubling from RetryWait (default 1 s).
	Retries   int
	RetryWait time.Duration
}

// Like client-go's recorder: an object may have 25 Events at once, and one
// more every 5 minutes; a repeat of an Event counts against it too.
const (
	perObjectBurst = 25
	perObjectEvery = 5 * time.Minute
	// maxKept bounds the Events and objects remembered for counting and
	// rate limiting; past it they are forgotten and start afresh.
	maxKept = 4096
)

// Recorder records Events from any goroutine and writes them from its own
// (Run), one at a time.
type Recorder struct {
	p     Params
	queue chan *corev1.Event

	// Run's own state.
	written  map[eventKey]*corev1.Event // the last written Event of each kind, for counting repeats
	limiters map[objectKey]*rate.Limiter
}

// eventKey is what makes two Events the same: one is counted on the other.
type eventKey struct {
	object                objectKey
	kind, reason, message string
}

type objectKey struct {
	kind, namespace, name, uid string
}

// New returns a Recorder; nothing is written before Run.
func New(p Params) *Recorder {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.QueueSize <= 0 {
		p.QueueSize = 1000
	}
	if p.Retries <= 0 {
		p.Retries = 4
	}
	if p.RetryWait <= 0 {
		p.RetryWait = time.Second
	}
	return &Recorder{
		p:        p,
		queue:    make(chan *corev1.Event, p.QueueSize),
		written:  map[eventKey]*corev1.Event{},
		limiters: map[objectKey]*rate.Limiter{},
	}
}

// Event records an Event of eventtype (corev1.EventTypeNormal or Warning)
// about object, which is a Kubernetes object of a kind Params.Scheme knows,
// or a *corev1.ObjectReference. It never blocks: when the queue is full the
// Event is dropped and logged.
func (r *Recorder) Event(object runtime.Object, eventtype, reason, message string) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.p.Logger.Error("not recording an Event of an unknown type", "event", "kube-event", "type", eventtype, "reason", reason)
		return
	}
	ref, err := reference.GetReference(r.p.Scheme, object)
	if err != nil {
		r.p.Logger.Error("not recording an Event: cannot refer to its object", "event", "kube-event", "reason", reason, "error", err.Error())
		return
	}
	now := metav1.NewTime(r.p.Now())
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault // where cluster-scoped objects' Events go
	}
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: namespace},
		InvolvedObject:      *ref,
		Reason:              reason,
		Message:             message,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                eventtype,
		Source:              corev1.EventSource{Component: r.p.Component, Host: r.p.Host},
		ReportingController: r.p.Component,
		ReportingInstance:   r.p.Host,
	}
	select {
	case r.queue <- e:
	default:
		r.p.Logger.Warn("Event dropped: too many waiting to be written", "event", "kube-event", "reason", reason, "object", ref.Kind+"/"+ref.Name)
	}
}

// Run writes the recorded Events until ctx ends; those still queued then
// are dropped.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.queue:
			r.write(ctx, e)
		}
	}
}

// write sends one Event: a new one is created; a repeat of one already
// written raises that one's count instead (and is created anew if it is
// gone: the API server keeps Events for an hour).
func (r *Recorder) write(ctx context.Context, e *corev1.Event) {
	ref := e.InvolvedObject
	obj := objectKey{ref.Kind, ref.Namespace, ref.Name, string(ref.UID)}
	if !r.limiter(obj).AllowN(e.LastTimestamp.Time, 1) {
		r.p.Logger.Debug("Event dropped: its object had too many", "event", "kube-event", "reason", e.Reason, "object", ref.Kind+"/"+ref.Name)
		return
	}
	key := eventKey{obj, e.Type, e.Reason, e.Message}
	if prev, ok := r.written[key]; ok {
		count := prev.Count + 1
		patch := fmt.Appendf(nil, `{"count":%d,"lastTimestamp":%q}`, count, e.LastTimestamp.UTC().Format(time.RFC3339))
		out, err := r.retry(ctx, func() (*corev1.Event, error) { return r.p.Sink.Patch(prev, patch) })
		if err == nil {
			r.written[key] = out
			return
		}
		if !apierrors.IsNotFound(err) {
			r.failed(e, err)
			return
		}
	}
	out, err := r.retry(ctx, func() (*corev1.Event, error) { return r.p.Sink.Create(e) })
	if err != nil {
		r.failed(e, err)
		return
	}
	if len(r.written) >= maxKept {
		clear(r.written)
	}
	r.written[key] = out
}

// retry calls write until it succeeds, fails for good (the API server
// refused the Event itself), the tries run out or ctx ends.
func (r *Recorder) retry(ctx context.Context, write func() (*corev1.Event, error)) (*corev1.Event, error) {
	wait := r.p.RetryWait
	for try := 0; ; try++ {
		out, err := write()
		if err == nil || try == r.p.Retries || final(err) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// final errors do not change with another try.
func final(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || apierrors.IsInvalid(err) ||
		apierrors.IsForbidden(err) || apierrors.IsBadRequest(err)
}

func (r *Recorder) failed(e *corev1.Event, err error) {
	r.p.Logger.Warn("cannot write an Event", "event", "kube-event", "reason", e.Reason,
		"object", e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name, "error", err.Error())
}

func (r *Recorder) limiter(obj objectKey) *rate.Limiter {
	l, ok := r.limiters[obj]
	if !ok {
		if len(r.limiters) >= maxKept {
			clear(r.limiters)
		}
		l = rate.NewLimiter(rate.Every(perObjectEvery), perObjectBurst)
		r.limiters[obj] = l
	}
	return l
}
