package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A dump costs the kernel about 0.35 µs per route (3.5 ms for 10,000 on the
// machines in docs/benchmarks.md). Polling every 2 µs per route keeps the
// poller's share of a core near 17% whatever the size, while small runs get
// the resolution they need: 2 ms for 1,000 routes, 20 ms for 10,000.
const (
	pollPerRoute = 2 * time.Microsecond
	minPollStep  = 2 * time.Millisecond
	maxPollStep  = 20 * time.Millisecond
)

func pollStep(routes int) time.Duration {
	return min(max(time.Duration(routes)*pollPerRoute, minPollStep), maxPollStep)
}

// A RIB count is not free to the speaker it measures: GoBGP's GetTable walks
// every destination inside its server loop, the one goroutine that also
// takes in the UPDATEs (about 10 ms per 100,000 destinations here). Polled
// every 20 ms it took a large share of that loop at 100,000 routes and
// slowed the very install it timed (an engine slower alone than inside the
// agent). So RIB counters are polled at 2 µs per route without the 20 ms
// cap: the walk stays a small, fixed share of the loop at any size (200 ms,
// 4% of a 5 s install, at 100,000), and below 10,000 routes nothing changes.
// Where that is longer than the kernel counters' step (pollStep), the wait
// follows the table as it is (shorter while it is small) and, once the
// count's pace puts the end within it, shrinks to the kernel counters' step:
// the same resolution, for a few walks at the end (waitCountNear).
func ribPollStep(routes int) time.Duration {
	return max(time.Duration(routes)*pollPerRoute, minPollStep)
}

// convergence is how long the kernel took to reach the wanted count after t0.
type convergence struct {
	First time.Duration // the count first moved away from where it started
	Done  time.Duration // the count reached want
	Step  time.Duration // the poll interval: the figures' resolution
}

// counter counts the routes a speaker has so far: in a kernel table
// (routeCounter) or in a RIB (ribCounter).
type counter interface {
	Count() (int, error)
	String() string
	// pollStep is how often to count while routes come or go.
	pollStep(routes int) time.Duration
	// nearStep, when shorter than pollStep, says the count walks the
	// speaker's table: it is then made every nearStep only near the end
	// (waitCountNear).
	nearStep(routes int) time.Duration
}

// errCountNotReached is the error of a wait that timed out.
var errCountNotReached = errors.New("count not reached")

// waitCount polls c until it reports want, bounded by timeout.
func waitCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration) (convergence, error) {
	routes := max(start, want)
	if step, near := c.pollStep(routes), c.nearStep(routes); near < step {
		return waitCountNear(ctx, c, t0, start, want, timeout, near)
	}
	return waitCountEvery(ctx, c, t0, start, want, timeout, c.pollStep(routes))
}

// waitCountNear is waitCount for a count that walks the speaker's table
// (a RIB count), whose cost grows with what it counts: it waits in
// proportion to the count (pollPerRoute, at least near) until the average
// pace since t0 says want is closer than that, then counts every near.
func waitCountNear(ctx context.Context, c counter, t0 time.Time, start, want int, timeout, near time.Duration) (convergence, error) {
	return pollCount(ctx, c, t0, start, want, timeout, func(now time.Duration, n int) time.Duration {
		return nextWait(near, now, start, n, want)
	})
}

// nextWait is how long to wait before the next count of a table that holds
// n: n × pollPerRoute, at least near, so the walk stays a small share of
// the speaker's work as its table grows; unless the average pace since t0
// (start, n now) puts want closer than that, then the time left less near,
// at least near.
func nextWait(near, now time.Duration, start, n, want int) time.Duration {
	wait := max(time.Duration(n)*pollPerRoute, near)
	if now <= 0 || n == start {
		return wait
	}
	pace := float64(n-start) / float64(now) // routes a nanosecond, signed
	left := time.Duration(float64(want-n) / pace)
	if left <= 0 || left >= wait {
		return wait
	}
	return max(left-near, near)
}

// waitCountEvery is waitCount polling every step.
func waitCountEvery(ctx context.Context, c counter, t0 time.Time, start, want int, timeout, step time.Duration) (convergence, error) {
	return pollCount(ctx, c, t0, start, want, timeout, func(time.Duration, int) time.Duration { return step })
}

// pollCount counts until c reports want, bounded by timeout. Each count
// starts next(now, n) after the one before started, or at once if that one
// took longer; the result's Step is the last such interval: the figure's
// resolution.
func pollCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration, next func(now time.Duration, n int) time.Duration) (convergence, error) {
	res := convergence{Step: next(0, start)}
	deadline := t0.Add(timeout)
	for {
		began := time.Now()
		n, err := c.Count()
		if err != nil {
			return res, err
		}
		now := time.Since(t0)
		if n != start && res.First == 0 {
			res.First = now
		}
		if n == want {
			res.Done = now
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of the wanted %d routes in %s after %s: %w", n, want, c, timeout, errCountNotReached)
		}
		res.Step = next(now, n)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Until(began.Add(res.Step))):
		}
	}
}

// timeCommand runs a command and returns its wall time.
func timeCommand(ctx context.Context, name string, args ...string) (time.Duration, error) {
	began := time.Now()
	if _, err := run(ctx, name, args...); err != nil {
		return 0, err
	}
	return time.Since(began), nil
}
