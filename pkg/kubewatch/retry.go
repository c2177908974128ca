// Package kubewatch keeps an informer's watch close behind the API server: a
// List or Watch that cannot reach the API server is retried here, on a short
// capped back-off, instead of going back to client-go's reflector.
//
// Why: the reflector (client-go v0.34) retries a refused watch on its own
// exponential back-off, 800 ms doubling to 30 s with a jitter factor of 1.0 —
// 30 to 60 s between attempts once an outage has lasted a minute, and not
// configurable from a shared informer. After a one-minute API outage the agent
// would apply the first Node change up to a minute after the API returned.
// Connection attempts to a server that is down cost the server nothing, so a
// short cap is cheap; answers from a running server (429, 5xx, 410 Gone) are
// still the reflector's to handle.
package kubewatch

import (
	"context"
	"errors"
	"net"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Defaults: the first retry after half a second, then doubling to at most
// 4 s (plus up to 25 % jitter, so a fleet of agents does not retry in step).
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 4 * time.Second
	jitter            = 0.25
)

// Params configures Retrying.
type Params struct {
	// LW does the real List and Watch.
	LW cache.ListerWatcherWithContext
	// MinBackoff and MaxBackoff bound the wait between attempts; zero means
	// the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Unreachable, if set, is called with each failed attempt's error, and
	// Reachable once an attempt succeeds after failures (health reporting).
	Unreachable func(error)
	Reachable   func()
}

// Retrying is a cache.ListerWatcher for an informer.
type Retrying struct {
	p Params
}

var (
	_ cache.ListerWatcher            = (*Retrying)(nil)
	_ cache.ListerWatcherWithContext = (*Retrying)(nil)
)

// New wraps p.LW.
func New(p Params) *Retrying {
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(DefaultMaxBackoff, p.MinBackoff)
	}
	return &Retrying{p: p}
}

// ListWithContext lists, retrying while the API server cannot be reached.
func (r *Retrying) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return retry(ctx, r.p, func() (runtime.Object, error) { return r.p.LW.ListWithContext(ctx, opts) })
}

// WatchWithContext starts a watch, retrying while the API server cannot be
// reached.
func (r *Retrying) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return retry(ctx, r.p, func() (watch.Interface, error) { return r.p.LW.WatchWithContext(ctx, opts) })
}

// List and Watch serve callers that predate contexts; the reflector uses the
// WithContext forms.
func (r *Retrying) List(opts metav1.ListOptions) (runtime.Object, error) {
	return r.ListWithContext(context.Background(), opts)
}

func (r *Retrying) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return r.WatchWithContext(context.Background(), opts)
}

func retry[T any](ctx context.Context, p Params, call func() (T, error)) (T, error) {
	b := wait.Backoff{Duration: p.MinBackoff, Factor: 2, Jitter: jitter, Cap: p.MaxBackoff, Steps: 1 << 30}
	failed := false
	for {
		v, err := call()
		if err == nil || !IsUnreachable(err) {
			if err == nil && failed && p.Reachable != nil {
				p.Reachable()
			}
			return v, err
		}
		failed = true
		if p.Unreachable != nil {
			p.Unreachable(err)
		}
		t := time.NewTimer(b.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			// The reflector is stopping: hand it the last error, it returns.
			return v, err
		case <-t.C:
		}
	}
}

// IsUnreachable tells an error of not reaching the API server (no connection
// made, or the connection refused or reset) from an answer of a running one.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
