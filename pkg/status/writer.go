package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Applier writes the object with server-side apply (Kube is the real one).
type Applier interface {
	Apply(ctx context.Context, obj Object) error
}

// WriterParams configure a Writer; zero values take the defaults.
type WriterParams struct {
	Applier Applier
	Logger  *slog.Logger
	// Interval is the least time between two writes (default 3 s): changes
	// within it are coalesced into the next write.
	Interval time.Duration
	// MaxBackoff bounds the wait after failed writes (default 30 s); the
	// wait doubles from Interval with each failure in a row.
	MaxBackoff time.Duration
	// ApplyTimeout bounds one write (default 10 s).
	ApplyTimeout time.Duration
	// OnWrite and OnError (with a reason of ErrorReason) are called after
	// each write, for metrics; either may be nil.
	OnWrite func()
	OnError func(reason string)
	Now     func() time.Time
}

// Writer writes a node's BGPNodeState from its own goroutine (Run). Update
// and Observe never block: the loops that route hand it the latest object
// and go on, and a slow or absent API server only delays the status.
type Writer struct {
	p WriterParams

	mu      sync.Mutex
	desired *Object // latest from Update, times not set
	// observed is the object as the API server last showed it (Observe);
	// nil when unknown or deleted.
	observed *Object
	// applied is the JSON of the last object the API server accepted from
	// us, inflight of the one being written; "" when none or when the
	// live object no longer matches it (edited or deleted by hand).
	applied, inflight []byte
	lastPrev          *Status // conditions' times of the last object written
	held              bool    // the last Update had no owner (see Update)

	poke chan struct{}
}

// NewWriter returns a Writer; Run starts its work.
func NewWriter(p WriterParams) *Writer {
	if p.Interval <= 0 {
		p.Interval = 3 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.ApplyTimeout <= 0 {
		p.ApplyTimeout = 10 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Writer{p: p, poke: make(chan struct{}, 1)}
}

func (w *Writer) wake() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// Update hands the writer the node's latest status (from Build). It is
// written when it differs from the last one written.
//
// An object without an owner is not written, and nothing is written after
// it until an object with an owner comes: its Node is not, or no longer, in
// the agent's node cache. Written without the owner, the object would lose
// its ownerReference (server-side apply drops a field its manager no longer
// sets) and outlive the deleted Node, since the garbage collector removes
// only what a vanished owner owned.
func (w *Writer) Update(o Object) {
	w.mu.Lock()
	held := len(o.Metadata.OwnerReferences) == 0
	wasHeld := w.held
	w.held = held
	if held {
		w.desired = nil
	} else {
		w.desired = &o
	}
	w.mu.Unlock()
	if held && !wasHeld {
		w.p.Logger.Info("not writing the BGPNodeState: its Node is not in the node cache", "event", "status-held", "node", o.Metadata.Name)
	}
	if !held {
		w.wake()
	}
}

// Observe tells the writer what the API server holds now: the object as
// read back, or nil once it was deleted. When it is not what the writer
// wrote (edited or deleted by hand), the next pass writes it again.
func (w *Writer) Observe(o *Object) {
	var got []byte
	if o != nil {
		got = mustJSON(*o)
	}
	w.mu.Lock()
	w.observed = o
	ours := got != nil && (bytes.Equal(got, w.applied) || bytes.Equal(got, w.inflight))
	if !ours {
		w.applied = nil
	}
	w.mu.Unlock()
	if !ours {
		w.wake()
	}
}

// next is the object to write now, or false when the API server already
// holds what the writer would write.
func (w *Writer) next() (Object, []byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.desired == nil {
		return Object{}, nil, false
	}
	o := *w.desired
	o.Status.Conditions = append([]Condition(nil), o.Status.Conditions...)
	prev := w.lastPrev
	if w.applied == nil && w.observed != nil {
		// After a restart (or a hand edit), keep the times the live
		// object has for conditions whose status did not change.
		prev = &w.observed.Status
	}
	carryTimes(&o.Status, prev, w.p.Now())
	js := mustJSON(o)
	if w.applied != nil && bytes.Equal(js, w.applied) {
		return Object{}, nil, false
	}
	w.inflight = js
	return o, js, true
}

func (w *Writer) done(o Object, js []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight = nil
	if err == nil {
		w.applied = js
		st := o.Status
		w.lastPrev = &st
	}
}

// Run writes until ctx ends. After each write it waits Interval, so a
// burst of changes costs one write; after a failure it waits longer each
// time, up to MaxBackoff, and logs once per cause of failure.
func (w *Writer) Run(ctx context.Context) error {
	var (
		failures  int
		lastCause string
	)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.poke:
		}
		for {
			o, js, ok := w.next()
			if !ok {
				break
			}
			actx, cancel := context.WithTimeout(ctx, w.p.ApplyTimeout)
			err := w.p.Applier.Apply(actx, o)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.done(o, js, err)
			wait := w.p.Interval
			if err == nil {
				if w.p.OnWrite != nil {
					w.p.OnWrite()
				}
				if lastCause != "" {
					w.p.Logger.Info("status object written again", "event", "status-recovered", "object", o.Metadata.Name)
					lastCause = ""
				}
				failures = 0
			} else {
				reason := ErrorReason(err)
				if w.p.OnError != nil {
					w.p.OnError(reason)
				}
				if reason != lastCause {
					w.p.Logger.Warn("cannot write the status object; routing goes on, retrying with backoff",
						"event", "status-write-failed", "object", o.Metadata.Name, "reason", reason, "error", err.Error())
					lastCause = reason
				}
				failures++
				for i := 1; i < failures && wait < w.p.MaxBackoff; i++ {
					wait *= 2
				}
				wait = min(wait, w.p.MaxBackoff)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// ErrorReason sorts a failed write into a bounded set of reasons (the
// values of health.StatusWriteReasons).
func ErrorReason(err error) string {
	var netErr *net.OpError
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return "forbidden"
	case apierrors.IsNotFound(err):
		return "not-found"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return "invalid"
	case apierrors.IsConflict(err):
		return "conflict"
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err), apierrors.IsInternalError(err),
		errors.As(err, &netErr):
		return "unavailable"
	default:
		return "other"
	}
}

func mustJSON(o Object) []byte {
	js, err := json.Marshal(o)
	if err != nil {
		panic("status: marshalling BGPNodeState: " + err.Error()) // plain structs: cannot fail
	}
	return js
}
