package podcidr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/slimnode"
)

// fakeNode is the informer's view of this node: it can change under Wait,
// and counts how often Wait looked.
type fakeNode struct {
	mu    sync.Mutex
	node  *slimnode.Node
	calls atomic.Int64
}

func (f *fakeNode) set(n *slimnode.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.node = n
}

func (f *fakeNode) get() *slimnode.Node {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node.DeepCopy()
}

// captureHandler records every log record with its attributes flattened.
type captureHandler struct {
	mu    *sync.Mutex
	recs  *[]map[string]string
	attrs []slog.Attr
}

func newCapture() *captureHandler {
	return &captureHandler{mu: &sync.Mutex{}, recs: &[]map[string]string{}}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		rec[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, rec)
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

func (h *captureHandler) records() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), *h.recs...)
}

type waitResult struct {
	cidrs []netip.Prefix
	err   error
}

func startWait(ctx context.Context, p WaitParams) <-chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		cidrs, err := Wait(ctx, p)
		done <- waitResult{cidrs, err}
	}()
	return done
}

func await(t *testing.T, done <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5s")
		return waitResult{}
	}
}

func assertBlocked(t *testing.T, done <-chan waitResult) {
	t.Helper()
	select {
	case r := <-done:
		t.Fatalf("Wait returned early: %v, %v", r.cidrs, r.err)
	case <-time.After(50 * time.Millisecond):
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func TestWaitReturnsAtOnceWhenAllocated(t *testing.T) {
	f := &fakeNode{node: nodeWith("n1", "10.244.1.0/24")}
	h := newCapture()
	got, err := Wait(context.Background(), WaitParams{NodeName: "n1", Get: f.get, Logger: slog.New(h)})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if want := prefixes("10.244.1.0/24"); !reflect.DeepEqual(got, want) {
		t.Errorf("Wait = %v, want %v", got, want)
	}
	if n := len(h.records()); n != 0 {
		t.Errorf("Wait logged %d lines for an allocated node, want none", n)
	}
}

func TestWaitReturnsAfterPokeOnceAllocated(t *testing.T) {
	tests := []struct {
		name  string
		start *slimnode.Node
	}{
		{name: "node exists without a CIDR", start: nodeWith("n1")},
		{name: "node does not exist yet", start: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNode{node: tt.start}
			notify := make(chan struct{}, 1)
			// LogEvery is long so only the poke can end the wait.
			done := startWait(context.Background(), WaitParams{
				NodeName: "n1", Get: f.get, Notify: notify, LogEvery: time.Hour, Logger: slog.New(newCapture()),
			})
			poke(notify)
			assertBlocked(t, done)

			f.set(nodeWith("n1", "10.244.1.0/24", "fd00:244:1::/64"))
			poke(notify)
			r := await(t, done)
			if r.err != nil {
				t.Fatalf("Wait: %v", r.err)
			}
			if want := prefixes("10.244.1.0/24", "fd00:244:1::/64"); !reflect.DeepEqual(r.cidrs, want) {
				t.Errorf("Wait = %v, want %v", r.cidrs, want)
			}
		})
	}
}

func TestWaitRechecksOnTickWithoutPoke(t *testing.T) {
	f := &fakeNode{node: nodeWith("n1")}
	done := startWait(context.Background(), WaitParams{
		NodeName: "n1", Get: f.get, LogEvery: 20 * time.Millisecond, Logger: slog.New(newCapture()),
	})
	assertBlocked(t, done)
	f.set(nodeWith("n1", "10.244.1.0/24"))
	if r := await(t, done); r.err != nil || len(r.cidrs) != 1 {
		t.Fatalf("Wait = %v, %v; want the allocated CIDR", r.cidrs, r.err)
	}
}

func TestWaitHonoursCancel(t *testing.T) {
	f := &fakeNode{node: nodeWith("n1")}
	ctx, cancel := context.WithCancel(context.Background())
	done := startWait(ctx, WaitParams{NodeName: "n1", Get: f.get, Notify: make(chan struct{}), LogEvery: time.Hour, Logger: slog.New(newCapture())})
	assertBlocked(t, done)
	cancel()
	if r := await(t, done); !errors.Is(r.err, context.Canceled) {
		t.Errorf("Wait error = %v, want context.Canceled", r.err)
	}
}

func TestWaitLogsBadInputAndKeepsWaitingUntilFixed(t *testing.T) {
	tests := []struct {
		name       string
		fake       *fakeNode
		wantReason string
	}{
		{
			name:       "invalid allocation is logged, not returned",
			fake:       &fakeNode{node: nodeWith("n1", "10.244.2.0/24", "10.244.3.0/24")},
			wantReason: `node "n1": spec.podCIDRs[1]: 10.244.3.0/24 is a second IPv4 pod CIDR after 10.244.2.0/24`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			capture := newCapture()
			notify := make(chan struct{}, 1)
			done := startWait(context.Background(), WaitParams{NodeName: "n1", Get: tt.fake.get, Notify: notify, LogEvery: time.Hour, Logger: slog.New(capture)})
			assertBlocked(t, done)
			recs := capture.records()
			if len(recs) == 0 || recs[0]["reason"] != tt.wantReason {
				t.Fatalf("logged %v, want reason %q", recs, tt.wantReason)
			}
			tt.fake.set(nodeWith("n1", "10.244.2.0/24"))
			poke(notify)
			r := await(t, done)
			if r.err != nil || !reflect.DeepEqual(r.cidrs, []netip.Prefix{netip.MustParsePrefix("10.244.2.0/24")}) {
				t.Errorf("after the fix Wait = %v, %v; want [10.244.2.0/24], nil", r.cidrs, r.err)
			}
		})
	}
	if _, err := Wait(context.Background(), WaitParams{NodeName: "n1"}); err == nil {
		t.Error("Wait without a getter returned no error")
	}
}

func TestWaitLogsAtMostOncePerInterval(t *testing.T) {
	want := map[string]string{"msg": "waiting for pod CIDR allocation", "component": "podcidr", "reason": "spec.podCIDRs empty"}

	// Between ticks a storm of pokes is checked, never logged: with no
	// tick in sight, 50 checks leave the first line alone.
	f := &fakeNode{node: nodeWith("n1")}
	h := newCapture()
	notify := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := startWait(ctx, WaitParams{NodeName: "n1", Get: f.get, Notify: notify, LogEvery: time.Hour, Logger: slog.New(h)})
	for i := 0; f.calls.Load() < 50; i++ {
		if i == 5000 {
			t.Fatalf("Wait checked the node %d times for 5000 pokes", f.calls.Load())
		}
		poke(notify)
		time.Sleep(time.Millisecond)
	}
	cancel()
	await(t, done)
	if recs := h.records(); len(recs) != 1 || !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("Wait logged %d records for %d checks within one interval (%.200v), want the one record %v", len(recs), f.calls.Load(), recs, want)
	}

	// Across ticks it logs again, once per tick at most: however slow this
	// machine, no more lines than intervals that passed, plus the first.
	const every = 20 * time.Millisecond
	f = &fakeNode{node: nodeWith("n1")}
	h = newCapture()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done = startWait(ctx, WaitParams{NodeName: "n1", Get: f.get, Notify: notify, LogEvery: every, Logger: slog.New(h)})
	for i := 0; len(h.records()) < 3; i++ {
		if i == 5000 {
			t.Fatalf("Wait logged %d lines in %v with LogEvery %v, want it to repeat", len(h.records()), time.Since(start), every)
		}
		poke(notify)
		time.Sleep(time.Millisecond)
	}
	cancel()
	await(t, done)
	elapsed := time.Since(start)
	recs := h.records()
	if maxLines := int(elapsed/every) + 1; len(recs) > maxLines {
		t.Fatalf("Wait logged %d lines in %v with LogEvery %v, want at most %d", len(recs), elapsed, every, maxLines)
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r, want) {
			t.Errorf("log record %d = %v, want %v", i, r, want)
		}
	}
}

func TestWaitLogsWhyNodeIsMissing(t *testing.T) {
	f := &fakeNode{}
	h := newCapture()
	ctx, cancel := context.WithCancel(context.Background())
	done := startWait(ctx, WaitParams{NodeName: "n1", Get: f.get, LogEvery: time.Hour, Logger: slog.New(h)})
	assertBlocked(t, done)
	cancel()
	await(t, done)
	recs := h.records()
	if len(recs) != 1 || recs[0]["reason"] != "node not found" {
		t.Errorf("log records = %v, want one with reason \"node not found\"", recs)
	}
}

func TestWaitNeverSpins(t *testing.T) {
	const every = 50 * time.Millisecond
	const window = 300 * time.Millisecond
	closed := make(chan struct{})
	close(closed)
	tests := []struct {
		name   string
		notify chan struct{}
	}{
		{name: "no notify channel checks only on ticks", notify: nil},
		{name: "idle notify channel checks only on ticks", notify: make(chan struct{}, 1)},
		{name: "closed notify channel checks only on ticks", notify: closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNode{node: nodeWith("n1")}
			ctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			r := await(t, startWait(ctx, WaitParams{NodeName: "n1", Get: f.get, Notify: tt.notify, LogEvery: every, Logger: slog.New(newCapture())}))
			if !errors.Is(r.err, context.DeadlineExceeded) {
				t.Fatalf("Wait error = %v, want deadline exceeded", r.err)
			}
			// One check at start, one per tick, and one extra for the
			// closed channel's single wake-up before it is dropped.
			maxCalls := int64(window/every) + 2
			if calls := f.calls.Load(); calls > maxCalls {
				t.Errorf("Wait looked at the node %d times in %v, want at most %d", calls, window, maxCalls)
			}
		})
	}
}

func TestWaitTellsTheCallerWhenItStartsWaitingAndWhenTheReasonChanges(t *testing.T) {
	var mu sync.Mutex
	node := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: "n1"}}
	get := func() *slimnode.Node {
		mu.Lock()
		defer mu.Unlock()
		return node.DeepCopy()
	}
	notify := make(chan struct{}, 1)
	var told []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Wait(t.Context(), WaitParams{
			NodeName: "n1",
			Get:      get,
			Notify:   notify,
			LogEvery: time.Hour,
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Waiting:  func(reason string) { told = append(told, reason) },
		})
	}()
	notify <- struct{}{} // same reason: not told again
	notify <- struct{}{}
	mu.Lock()
	node.Spec.PodCIDRs = []string{"10.244.1.0/24"}
	mu.Unlock()
	notify <- struct{}{}
	<-done
	if len(told) != 1 || !strings.Contains(told[0], "podCIDRs") {
		t.Fatalf("Waiting was told %q, want once, naming spec.podCIDRs", told)
	}
}
