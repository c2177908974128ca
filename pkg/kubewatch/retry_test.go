package kubewatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// refused is a real "connection refused": an HTTP request to a port nothing
// listens on, wrapped the way client-go's transport wraps it.
func refused(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = http.Get("http://" + addr + "/api/v1/nodes")
	if err == nil {
		t.Fatal("a closed port answered")
	}
	return err
}

func TestIsUnreachable(t *testing.T) {
	gr := schema.GroupResource{Resource: "nodes"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused(t), true},
		{"connection reset", fmt.Errorf("watch: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, true},
		{"no route to host", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH}, true},
		{"429 from a running server", apierrors.NewTooManyRequests("slow down", 1), false},
		{"500 from a running server", apierrors.NewInternalError(errors.New("etcd")), false},
		{"410 Gone: relist", apierrors.NewResourceExpired("too old resource version"), false},
		{"403 Forbidden", apierrors.NewForbidden(gr, "", errors.New("RBAC")), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsUnreachable(tc.err); got != tc.want {
				t.Errorf("IsUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// fakeLW fails its first calls with the given errors, then succeeds.
type fakeLW struct {
	errs  []error
	calls int
	at    []time.Time
}

func (f *fakeLW) next() error {
	f.calls++
	f.at = append(f.at, time.Now())
	if f.calls <= len(f.errs) {
		return f.errs[f.calls-1]
	}
	return nil
}

func (f *fakeLW) ListWithContext(context.Context, metav1.ListOptions) (runtime.Object, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &corev1.NodeList{}, nil
}

func (f *fakeLW) WatchWithContext(context.Context, metav1.ListOptions) (watch.Interface, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return watch.NewFake(), nil
}

func TestRetrying(t *testing.T) {
	conn := refused(t)
	for _, tc := range []struct {
		name                     string
		errs                     []error
		wantCalls                int
		wantErr                  bool
		wantUnreach, wantReached int
	}{
		{"API down for three attempts: retried here until it answers", []error{conn, conn, conn}, 4, false, 3, 1},
		{"first attempt answers: no report", nil, 1, false, 0, 0},
		{"429 goes back to the reflector at once", []error{apierrors.NewTooManyRequests("busy", 1)}, 1, true, 0, 0},
		{"410 Gone goes back at once (the reflector relists)", []error{apierrors.NewResourceExpired("too old")}, 1, true, 0, 0},
		{"down, then an answer that is an error: returned", []error{conn, apierrors.NewInternalError(errors.New("etcd"))}, 2, true, 1, 0},
	} {
		for _, op := range []string{"list", "watch"} {
			t.Run(op+": "+tc.name, func(t *testing.T) {
				f := &fakeLW{errs: tc.errs}
				var unreach, reached int
				r := New(Params{LW: f, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
					Unreachable: func(error) { unreach++ }, Reachable: func() { reached++ }})
				var err error
				if op == "list" {
					_, err = r.ListWithContext(context.Background(), metav1.ListOptions{})
				} else {
					_, err = r.WatchWithContext(context.Background(), metav1.ListOptions{})
				}
				if (err != nil) != tc.wantErr {
					t.Errorf("err = %v, want an error: %v", err, tc.wantErr)
				}
				if f.calls != tc.wantCalls || unreach != tc.wantUnreach || reached != tc.wantReached {
					t.Errorf("calls %d, unreachable reports %d, reachable reports %d; want %d, %d, %d",
						f.calls, unreach, reached, tc.wantCalls, tc.wantUnreach, tc.wantReached)
				}
			})
		}
	}
}

// The wait between attempts doubles from MinBackoff and stays under
// MaxBackoff plus jitter: the point is a bounded retry, neither a busy loop
// nor client-go's 30-60 s.
func TestRetryingBackoffIsCapped(t *testing.T) {
	conn := refused(t)
	errs := make([]error, 8)
	for i := range errs {
		errs[i] = conn
	}
	f := &fakeLW{errs: errs}
	minB, maxB := 10*time.Millisecond, 40*time.Millisecond
	r := New(Params{LW: f, MinBackoff: minB, MaxBackoff: maxB})
	if _, err := r.WatchWithContext(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(f.at); i++ {
		gap := f.at[i].Sub(f.at[i-1])
		if gap < minB {
			t.Errorf("attempt %d came %v after the previous, want at least %v", i+1, gap, minB)
		}
		// Timers on a loaded machine fire late, never early: bound loosely.
		if limit := time.Duration(float64(maxB)*(1+jitter)) + 200*time.Millisecond; gap > limit {
			t.Errorf("attempt %d came %v after the previous, want at most %v", i+1, gap, limit)
		}
	}
	if last := f.at[len(f.at)-1].Sub(f.at[len(f.at)-2]); last < maxB {
		t.Errorf("after 8 failures the wait is %v, want the cap %v", last, maxB)
	}
}

func TestRetryingStopsWithTheContext(t *testing.T) {
	conn := refused(t)
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := New(Params{LW: &fakeLW{errs: errs}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	start := time.Now()
	_, err := r.WatchWithContext(ctx, metav1.ListOptions{})
	if !IsUnreachable(err) {
		t.Errorf("err = %v, want the last connection error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned %v after the context ended", took)
	}
}
