package podcidr

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/nodebgp/router/pkg/slimnode"
)

// DefaultLogEvery is how often Wait repeats its log line when
// WaitParams.LogEvery is not set.
const DefaultLogEvery = 5 * time.Second

// WaitParams configures Wait.
type WaitParams struct {
	NodeName string
	// Get returns this node from the node cache, nil while it does not
	// exist yet.
	Get func() *slimnode.Node
	// Notify is poked (size-1 channel, non-blocking sends) whenever the node
	// may have changed. A nil Notify means Wait re-checks only every LogEvery.
	Notify <-chan struct{}
	// LogEvery spaces the "waiting" log lines and the re-checks that guard
	// against a missed poke. Zero means DefaultLogEvery.
	LogEvery time.Duration
	// Logger receives the waiting log lines; nil means slog.Default(). The
	// caller's logger names the node.
	Logger *slog.Logger
	// Waiting, when set, is called when the wait starts and whenever its
	// reason changes, so the caller can tell the operator (an Event).
	Waiting func(reason string)
}

// Wait blocks until Get returns a node with at least one pod CIDR and returns
// Own's view of it. It checks at once, then whenever Notify fires and every
// LogEvery, and logs "waiting for pod CIDR allocation" at the first check and
// then at most once per LogEvery. It returns ctx.Err() when ctx is done, and
// Get's or Own's error as soon as one occurs: an invalid allocation needs an
// operator, not more waiting.
func Wait(ctx context.Context, p WaitParams) ([]netip.Prefix, error) {
	if p.Get == nil {
		return nil, errors.New("waiting for pod CIDR: no node getter")
	}
	every := p.LogEvery
	if every <= 0 {
		every = DefaultLogEvery
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("component", "podcidr"))

	ticker := time.NewTicker(every)
	defer ticker.Stop()
	notify := p.Notify
	logNow := true
	told := ""
	for {
		cidrs, reason := check(p)
		if len(cidrs) > 0 {
			return cidrs, nil
		}
		if p.Waiting != nil && reason != told {
			p.Waiting(reason)
			told = reason
		}
		if logNow {
			log.Info("waiting for pod CIDR allocation", slog.String("reason", reason))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case _, ok := <-notify:
			if !ok {
				// A closed channel would fire forever; fall back to ticks.
				notify = nil
			}
			logNow = false
		case <-ticker.C:
			logNow = true
		}
	}
}

// check returns the node's CIDRs, or why there are none yet.
func check(p WaitParams) (cidrs []netip.Prefix, reason string) {
	n := p.Get()
	if n == nil {
		return nil, "node not found"
	}
	cidrs, err := Own(n)
	if err != nil {
		return nil, err.Error()
	}
	return cidrs, "spec.podCIDRs empty"
}
