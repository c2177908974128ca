package status

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/nodebgp/router/pkg/bfd"
)

// fakeAPI is an API server holding one object; it fails writes while fail
// is set, and can block them.
type fakeAPI struct {
	mu     sync.Mutex
	obj    *Object
	writes int
	fail   error
	block  chan struct{} // when set, Apply waits for it
}

func (f *fakeAPI) Apply(ctx context.Context, o Object) error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.writes++
	f.obj = &o
	return nil
}

func (f *fakeAPI) count() int        { f.mu.Lock(); defer f.mu.Unlock(); return f.writes }
func (f *fakeAPI) setFail(err error) { f.mu.Lock(); f.fail = err; f.mu.Unlock() }
func (f *fakeAPI) stored() *Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.obj == nil {
		return nil
	}
	o := *f.obj
	return &o
}

type testWriter struct {
	*Writer
	api    *fakeAPI
	logs   *bytes.Buffer
	logMu  *sync.Mutex
	errors map[string]int
}

func startWriter(t *testing.T, interval time.Duration) *testWriter {
	t.Helper()
	api := &fakeAPI{}
	tw := &testWriter{api: api, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, errors: map[string]int{}}
	w := NewWriter(WriterParams{
		Applier:    api,
		Logger:     slog.New(slog.NewTextHandler(lockedWriter{tw.logMu, tw.logs}, nil)),
		Interval:   interval,
		MaxBackoff: 4 * interval,
		OnError:    func(r string) { tw.logMu.Lock(); tw.errors[r]++; tw.logMu.Unlock() },
	})
	tw.Writer = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return tw
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (tw *testWriter) logText() string {
	tw.logMu.Lock()
	defer tw.logMu.Unlock()
	return tw.logs.String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterWritesOnlyChanges(t *testing.T) {
	w := startWriter(t, 10*time.Millisecond)
	w.Update(Build(healthy()))
	waitUntil(t, "the first write", func() bool { return w.api.count() == 1 })
	for range 5 {
		w.Update(Build(healthy())) // the same status: nothing to write
		time.Sleep(15 * time.Millisecond)
	}
	if n := w.api.count(); n != 1 {
		t.Errorf("%d writes for one unchanged status, want 1", n)
	}
	in := healthy()
	in.KernelRoutes = 8
	w.Update(Build(in))
	waitUntil(t, "the changed status", func() bool { return w.api.count() == 2 })
	if got := w.api.stored().Status.KernelRoutes; got != 8 {
		t.Errorf("stored kernelRoutes = %d, want 8", got)
	}
}

// A burst of changes within the interval costs at most two writes: the
// first, and one with the last state after the interval.
func TestWriterCoalescesBursts(t *testing.T) {
	w := startWriter(t, 200*time.Millisecond)
	for i := range 50 {
		in := healthy()
		in.KernelRoutes = i
		w.Update(Build(in))
		time.Sleep(2 * time.Millisecond)
	}
	waitUntil(t, "the last state written", func() bool {
		o := w.api.stored()
		return o != nil && o.Status.KernelRoutes == 49
	})
	if n := w.api.count(); n > 2 {
		t.Errorf("%d writes for a burst of 50 changes within one interval, want at most 2", n)
	}
}

// Update never waits for the API server: a write that hangs does not hold
// up the loops that route.
func TestUpdateNeverBlocks(t *testing.T) {
	w := startWriter(t, time.Millisecond)
	w.api.mu.Lock()
	w.api.block = make(chan struct{})
	w.api.mu.Unlock()
	defer close(w.api.block)
	began := time.Now()
	for i := range 1000 {
		in := healthy()
		in.KernelRoutes = i
		w.Update(Build(in))
		w.Observe(nil)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("1000 Updates took %s while the API hangs", took)
	}
}

func TestWriterRestoresAnObjectEditedOrDeletedByHand(t *testing.T) {
	w := startWriter(t, 10*time.Millisecond)
	w.Update(Build(healthy()))
	waitUntil(t, "the first write", func() bool { return w.api.count() == 1 })

	// Our own write coming back through the watch changes nothing.
	w.Observe(w.api.stored())
	time.Sleep(30 * time.Millisecond)
	if n := w.api.count(); n != 1 {
		t.Fatalf("%d writes after the watch showed our own object, want 1", n)
	}

	edited := w.api.stored()
	edited.Status.ASN = 1
	w.Observe(edited)
	waitUntil(t, "the edited object restored", func() bool { return w.api.count() == 2 && w.api.stored().Status.ASN == 64512 })

	w.Observe(nil) // deleted
	waitUntil(t, "the deleted object re-created", func() bool { return w.api.count() == 3 })
}

// Once the agent's own Node has left its cache (the Node was deleted), the
// status comes without an owner: the writer stops, so neither a write
// without the ownerReference nor a re-creation after the garbage collector
// deleted the object leaves an orphan behind.
func TestWriterWritesNothingOnceItsNodeIsGone(t *testing.T) {
	w := startWriter(t, 10*time.Millisecond)
	w.Update(Build(healthy()))
	waitUntil(t, "the first write", func() bool { return w.api.count() == 1 })

	gone := healthy()
	gone.NodeUID = ""
	gone.ASN = 1 // a change that would be written
	w.Update(Build(gone))
	w.Update(Build(gone))
	w.Observe(nil) // the garbage collector deleted it
	time.Sleep(50 * time.Millisecond)
	if n := w.api.count(); n != 1 {
		t.Fatalf("%d writes after the Node left the cache, want 1", n)
	}
	if got := strings.Count(w.logText(), "status-held"); got != 1 {
		t.Errorf("logged status-held %d times, want once:\n%s", got, w.logText())
	}

	w.Update(Build(healthy())) // the Node is back (re-registered)
	waitUntil(t, "the object written again with its owner", func() bool {
		o := w.api.stored()
		return w.api.count() == 2 && len(o.Metadata.OwnerReferences) == 1
	})
}

func TestWriterLogsOnceAndBacksOffOnErrors(t *testing.T) {
	w := startWriter(t, 5*time.Millisecond)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: Group, Resource: Resource}, "n1", errors.New("RBAC"))
	w.api.setFail(forbidden)
	w.Update(Build(healthy()))
	waitUntil(t, "several failed writes", func() bool {
		w.logMu.Lock()
		defer w.logMu.Unlock()
		return w.errors["forbidden"] >= 3
	})
	if n := strings.Count(w.logText(), "status-write-failed"); n != 1 {
		t.Errorf("%d log lines for one cause of failure, want 1:\n%s", n, w.logText())
	}
	w.api.setFail(apierrors.NewServiceUnavailable("etcd down"))
	waitUntil(t, "the new cause logged", func() bool { return strings.Count(w.logText(), "status-write-failed") == 2 })
	if !strings.Contains(w.logText(), "reason=unavailable") {
		t.Errorf("log lacks the new cause:\n%s", w.logText())
	}
	w.api.setFail(nil)
	waitUntil(t, "the write after the outage", func() bool { return w.api.count() == 1 })
	waitUntil(t, "the recovery logged", func() bool { return strings.Contains(w.logText(), "status-recovered") })
}

func TestErrorReasonsAreBounded(t *testing.T) {
	gr := schema.GroupResource{Group: Group, Resource: Resource}
	for err, want := range map[error]string{
		apierrors.NewForbidden(gr, "n1", errors.New("x")):   "forbidden",
		apierrors.NewNotFound(gr, "n1"):                     "not-found",
		apierrors.NewInvalid(schema.GroupKind{}, "n1", nil): "invalid",
		apierrors.NewConflict(gr, "n1", errors.New("x")):    "conflict",
		apierrors.NewServiceUnavailable("x"):                "unavailable",
		apierrors.NewTooManyRequests("quota", 1):            "unavailable",
		context.DeadlineExceeded:                            "timeout",
		errors.New("something else"):                        "other",
	} {
		if got := ErrorReason(err); got != want {
			t.Errorf("ErrorReason(%v) = %q, want %q", err, got, want)
		}
	}
}

// A restarted agent rebuilds its status from live state; conditions whose
// status did not change keep the transition times of the object it finds.
func TestWriterKeepsTheTransitionTimesOfTheObjectItFinds(t *testing.T) {
	w := startWriter(t, 10*time.Millisecond)
	found := Build(healthy())
	carryTimes(&found.Status, nil, t0)
	w.Observe(&found) // the watch's first event comes before the first status
	in := healthy()
	in.RoutesErr = errors.New("x") // RoutesProgrammed and Ready change, PeersEstablished not
	w.Update(Build(in))
	waitUntil(t, "the first write", func() bool { return w.api.count() == 1 })
	s := w.api.stored().Status
	if c := condition(s, PeersEstablished); c.LastTransitionTime != FormatTime(t0) {
		t.Errorf("PeersEstablished, unchanged, has time %s, want the found %s", c.LastTransitionTime, FormatTime(t0))
	}
	if c := condition(s, RoutesProgrammed); c.LastTransitionTime == FormatTime(t0) {
		t.Errorf("RoutesProgrammed changed but kept the found time")
	}
}

// A flapping BFD session (Up, Down, Up, ... every 5 ms for half a second)
// costs at most one write per interval, and the last state is the one
// written: BFD's sub-second transitions never turn into a write storm.
func TestWriterCoalescesBFDFlaps(t *testing.T) {
	const interval = 100 * time.Millisecond
	w := startWriter(t, interval)
	began := time.Now()
	var last string
	for i := 0; time.Since(began) < 5*interval; i++ {
		st := bfd.Status{Peer: n2.Address, State: bfd.Up, DetectTime: 900 * time.Millisecond}
		if i%2 == 1 {
			st = bfd.Status{Peer: n2.Address, State: bfd.Down, Diag: bfd.DiagControlDetectExpired}
		}
		last = st.State.String()
		w.Update(Build(withBFD(st, bfd.Status{Peer: tor.Address, State: bfd.Up})))
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(began)
	waitUntil(t, "the last BFD state written", func() bool {
		o := w.api.stored()
		if o == nil {
			return false
		}
		for _, s := range o.Status.Sessions {
			if s.Peer == n2.Address.String() {
				return s.BFD != nil && s.BFD.State == last
			}
		}
		return false
	})
	// One write at once, then one per interval, and the last one.
	if n, most := w.api.count(), int(elapsed/interval)+2; n > most {
		t.Errorf("%d writes for %s of BFD flaps, want at most %d (one per %s)", n, elapsed.Round(time.Millisecond), most, interval)
	}
}
