package kubeevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// fakeSink is an API server's Events: it stores what is created and applies
// count patches; fail makes the next writes fail.
type fakeSink struct {
	mu      sync.Mutex
	events  map[string]*corev1.Event // by namespace/name
	creates int
	patches []string
	fail    []error
}

func (s *fakeSink) next() error {
	if len(s.fail) == 0 {
		return nil
	}
	err := s.fail[0]
	s.fail = s.fail[1:]
	return err
}

func (s *fakeSink) Create(e *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.next(); err != nil {
		return nil, err
	}
	s.creates++
	c := e.DeepCopy()
	s.events[c.Namespace+"/"+c.Name] = c
	return c.DeepCopy(), nil
}

func (s *fakeSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.next(); err != nil {
		return nil, err
	}
	s.patches = append(s.patches, string(data))
	stored, ok := s.events[e.Namespace+"/"+e.Name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("events"), e.Name)
	}
	var n int32
	var last string
	if _, err := fmt.Sscanf(string(data), `{"count":%d,"lastTimestamp":%q}`, &n, &last); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	stored.Count = n
	return stored.DeepCopy(), nil
}

func (s *fakeSink) stored() []*corev1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*corev1.Event
	for _, e := range s.events {
		out = append(out, e.DeepCopy())
	}
	return out
}

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(s))
	return s
}

// recorder is a Recorder on a fake sink and clock; write runs what was
// recorded (Run's work) so that tests need no goroutine.
type testRecorder struct {
	*Recorder
	sink *fakeSink
	now  time.Time
}

func newTestRecorder(t *testing.T, queue int) *testRecorder {
	tr := &testRecorder{sink: &fakeSink{events: map[string]*corev1.Event{}}, now: time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)}
	tr.Recorder = New(Params{
		Sink: tr.sink, Scheme: testScheme(), Component: "nodebgp", Host: "node-1",
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return tr.now },
		QueueSize: queue, RetryWait: time.Millisecond,
	})
	return tr
}

// drain writes every queued Event, as Run would.
func (tr *testRecorder) drain() {
	for {
		select {
		case e := <-tr.queue:
			tr.write(context.Background(), e)
		default:
			return
		}
	}
}

var (
	node    = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "uid-n1"}} // from an informer: no kind
	service = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "uid-web"}}
)

func TestAnEventIsWrittenAsClientGosRecorderWritesIt(t *testing.T) {
	tr := newTestRecorder(t, 10)
	tr.Event(node, corev1.EventTypeWarning, "InvalidAnnotation", "nodebgp.io/asn: not a number")
	tr.drain()
	got := tr.sink.stored()
	if len(got) != 1 {
		t.Fatalf("%d Events written, want 1", len(got))
	}
	e := got[0]
	if want := fmt.Sprintf("node-1.%x", tr.now.UnixNano()); e.Name != want || e.Namespace != "default" {
		t.Errorf("Event %s/%s, want default/%s (a cluster-scoped object's Events go to default)", e.Namespace, e.Name, want)
	}
	want := corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: "node-1", UID: types.UID("uid-n1")}
	if e.InvolvedObject != want {
		t.Errorf("involvedObject %+v, want %+v", e.InvolvedObject, want)
	}
	if e.Type != "Warning" || e.Reason != "InvalidAnnotation" || e.Message != "nodebgp.io/asn: not a number" || e.Count != 1 {
		t.Errorf("type %s, reason %s, message %q, count %d", e.Type, e.Reason, e.Message, e.Count)
	}
	if e.Source != (corev1.EventSource{Component: "nodebgp", Host: "node-1"}) || e.ReportingController != "nodebgp" || e.ReportingInstance != "node-1" {
		t.Errorf("source %+v, reporting %s/%s", e.Source, e.ReportingController, e.ReportingInstance)
	}
	if !e.FirstTimestamp.Time.Equal(tr.now) || !e.LastTimestamp.Time.Equal(tr.now) {
		t.Errorf("timestamps %s, %s, want %s", e.FirstTimestamp, e.LastTimestamp, tr.now)
	}

	tr.Event(service, corev1.EventTypeWarning, "InvalidServiceAdvertisement", "bad")
	ref := &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: "node-2", UID: "node-2"}
	tr.Event(ref, corev1.EventTypeNormal, "NoPodCIDR", "waiting")
	tr.drain()
	namespaces := map[string]string{}
	for _, e := range tr.sink.stored() {
		namespaces[e.InvolvedObject.Name] = e.Namespace
	}
	if namespaces["web"] != "shop" || namespaces["node-2"] != "default" {
		t.Errorf("Events' namespaces %v: a Service's Event goes to its namespace, a reference's as its object's", namespaces)
	}
}

func TestARepeatedEventIsCountedOnTheFirst(t *testing.T) {
	tests := []struct {
		name        string
		second      func(tr *testRecorder)
		creates     int
		wantPatches []string
	}{
		{"the same Event again", func(tr *testRecorder) {
			tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "2 of 3 down")
		}, 1, []string{`{"count":2,"lastTimestamp":"2026-12-06T05:01:00Z"}`}},
		{"another message", func(tr *testRecorder) {
			tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "3 of 3 down")
		}, 2, nil},
		{"another type", func(tr *testRecorder) {
			tr.Event(node, corev1.EventTypeNormal, "BGPSessionsDown", "2 of 3 down")
		}, 2, nil},
		{"another object", func(tr *testRecorder) {
			tr.Event(service, corev1.EventTypeWarning, "BGPSessionsDown", "2 of 3 down")
		}, 2, nil},
		{"the first one expired meanwhile", func(tr *testRecorder) {
			tr.sink.events = map[string]*corev1.Event{}
			tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "2 of 3 down")
		}, 2, []string{`{"count":2,"lastTimestamp":"2026-12-06T05:01:00Z"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestRecorder(t, 10)
			tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "2 of 3 down")
			tr.drain()
			tr.now = tr.now.Add(time.Minute)
			tt.second(tr)
			tr.drain()
			if tr.sink.creates != tt.creates || strings.Join(tr.sink.patches, " ") != strings.Join(tt.wantPatches, " ") {
				t.Errorf("%d creates, patches %q; want %d, %q", tr.sink.creates, tr.sink.patches, tt.creates, tt.wantPatches)
			}
		})
	}
}

// An object gets 25 Events at once, then one every 5 minutes, as with
// client-go's recorder: a flapping peer cannot flood the API server.
func TestAnObjectsEventsAreRateLimited(t *testing.T) {
	tr := newTestRecorder(t, 100)
	for i := range 30 {
		tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", fmt.Sprintf("flap %d", i))
	}
	tr.Event(service, corev1.EventTypeWarning, "InvalidServiceAdvertisement", "another object")
	tr.drain()
	if tr.sink.creates != 26 {
		t.Fatalf("%d Events written, want 25 for the node and 1 for the Service", tr.sink.creates)
	}
	tr.now = tr.now.Add(5 * time.Minute)
	tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "later")
	tr.Event(node, corev1.EventTypeWarning, "BGPSessionsDown", "later still")
	tr.drain()
	if tr.sink.creates != 27 {
		t.Fatalf("%d Events written 5 minutes on, want one more", tr.sink.creates)
	}
}

func TestAFailedWriteIsTriedAgainUnlessTheAPIServerRefusedIt(t *testing.T) {
	tests := []struct {
		name    string
		fail    []error
		creates int
	}{
		{"unavailable twice, then written", []error{apierrors.NewServiceUnavailable("down"), errors.New("connection refused")}, 1},
		{"refused as invalid: not tried again", []error{apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Event").GroupKind(), "x", nil)}, 0},
		{"forbidden: not tried again", []error{apierrors.NewForbidden(corev1.Resource("events"), "x", errors.New("RBAC"))}, 0},
		{"unavailable past the retries: given up", []error{errors.New("1"), errors.New("2"), errors.New("3"), errors.New("4"), errors.New("5")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestRecorder(t, 10)
			tr.sink.fail = tt.fail
			tr.Event(node, corev1.EventTypeWarning, "R", "m")
			tr.drain()
			if tr.sink.creates != tt.creates {
				t.Errorf("%d Events written, want %d", tr.sink.creates, tt.creates)
			}
		})
	}
}

func TestEventNeverBlocks(t *testing.T) {
	tr := newTestRecorder(t, 2)
	done := make(chan struct{})
	go func() {
		for range 10 {
			tr.Event(node, corev1.EventTypeNormal, "R", "m") // nobody runs the queue
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Event blocked on a full queue")
	}
	if n := len(tr.queue); n != 2 {
		t.Errorf("%d queued, want the queue's 2", n)
	}
}

func TestBadEventsAreNotRecorded(t *testing.T) {
	tr := newTestRecorder(t, 10)
	tr.Event(node, "Error", "R", "an unknown type")
	tr.Event(&corev1.Pod{}, corev1.EventTypeNormal, "R", "a kind the scheme knows, but no name") // still referable
	tr.Event(&discoveryv1.EndpointSlice{}, corev1.EventTypeNormal, "R", "a kind the scheme does not know")
	if n := len(tr.queue); n != 1 {
		t.Errorf("%d Events queued, want only the Pod's", n)
	}
}

func TestRunWritesUntilItsContextEnds(t *testing.T) {
	tr := newTestRecorder(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	tr.Event(node, corev1.EventTypeNormal, "R", "m")
	deadline := time.Now().Add(5 * time.Second)
	for len(tr.sink.stored()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run wrote nothing within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context ending")
	}
}
