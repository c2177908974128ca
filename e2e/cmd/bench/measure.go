package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Every count walks the speaker's table: a kernel dump costs about 0.35 µs
// a route, GoBGP's GetTable about 0.1 µs inside the server loop that also
// takes in the UPDATEs. So a count waits 2 µs per route it counted (a sixth
// of a core for a kernel dump, whatever the size), at least pollStep of the
// routes it counted: 2 ms for 1,000 routes or fewer, 20 ms for 10,000 and
// more, the figures' resolution. At 100,000 a 20 ms step kept the bench's
// poller dumping without a pause, a whole vCPU of two taken from the speaker
// it timed, and a RIB count at that step slowed the install it timed; the
// wait follows the table counted so far and shrinks to pollStep once the
// count's pace puts the end within it (nextWait). An install ends with its
// whole table to count, so its resolution is its table's step; a withdraw
// ends with few routes left, cheap to count, and closes in finer.
const (
	pollPerRoute = 2 * time.Microsecond
	minPollStep  = 2 * time.Millisecond
	maxPollStep  = 20 * time.Millisecond
)

func pollStep(routes int) time.Duration {
	return min(max(time.Duration(routes)*pollPerRoute, minPollStep), maxPollStep)
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
}

// errCountNotReached is the error of a wait that timed out.
var errCountNotReached = errors.New("count not reached")

// waitCount counts until c reports want, bounded by timeout: every
// nextWait, and at once when a probe sees last, the prefix the injector
// sends last, reach its end state (see prober).
func waitCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration, last netip.Prefix) (convergence, error) {
	prev := sample{n: start}
	next := func(now time.Duration, n int) time.Duration {
		cur := sample{at: now, n: n}
		wait := nextWait(start, prev, cur, want)
		prev = cur
		return wait
	}
	var probe func() (bool, error)
	if p, ok := c.(prober); ok && last.IsValid() {
		final := want > start // held at the end of an install, gone at the end of a withdraw
		probe = func() (bool, error) {
			held, err := p.Holds(last)
			return held == final, err
		}
	}
	return pollCount(ctx, c, t0, start, want, timeout, next, probe)
}

// prober is a counter that can also look one prefix up: a lookup whose cost
// does not grow with the table, where a count walks all of it.
//
// Between two counts pollCount asks every probeWait whether the prefix the
// injector sends last has reached its end state (in the table after an
// announce, gone after a withdraw), and counts at once when it has. A
// speaker that keeps the injector's order is then counted within a probe
// of its end, where the counts alone close in on it no finer than
// pollStep: 20 ms at 10,000 routes, a third of a packed figure there. The
// count still decides the end: a speaker that reorders is counted as
// before, at the counts' pace.
type prober interface {
	counter
	Holds(p netip.Prefix) (bool, error)
}

// A probe waits probeCostShare times as long as the last one took, at
// least minProbeWait: a kernel lookup (a few µs) every millisecond, a
// slower one (gRPC to gobgpd, whose server loop answers it) less often, so
// that probing takes at most about 2 % of the time from the speaker timed,
// whatever the probe.
const (
	minProbeWait   = time.Millisecond
	probeCostShare = 50
)

func probeWait(took time.Duration) time.Duration {
	return max(took*probeCostShare, minProbeWait)
}

// sample is a count n at time at after t0.
type sample struct {
	at time.Duration
	n  int
}

// nextWait is how long to wait before the next count of a table that holds
// cur.n: cur.n × pollPerRoute, at least its pollStep (near), so the walk
// stays a small share of the speaker's work as its table grows; but at most
// half the time the count's pace (the faster of its average since t0, from
// start, and its pace since the last count) says is left until want, so
// that counts close in on the end even when the pace picks up, down to
// near. Before the count has moved there is no pace: the next count comes
// after as long again as the time since t0, from near up to the table's
// wait, so that a withdraw of 100,000 routes that is over in 0.15 s is not
// first counted again at the table's 200 ms, which every withdraw figure was
// at least until 2026-12-07 (a few more counts at its start).
//
// near is the step of the table counted, not of the larger of start and
// want: until 2026-12-07 a withdraw of 10,000 routes was counted every
// 20 ms to its end, and every kernel-writing speaker's packed withdraw came
// out at the same 0.041 s, the second count after its first move.
func nextWait(start int, last, cur sample, want int) time.Duration {
	near := pollStep(cur.n)
	wait := max(time.Duration(cur.n)*pollPerRoute, near)
	// toward is the pace toward want since from, in routes a nanosecond;
	// 0 when the count did not move toward it.
	toward := func(from sample) float64 {
		if cur.at <= from.at {
			return 0
		}
		pace := float64(cur.n-from.n) / float64(cur.at-from.at)
		if want < cur.n {
			pace = -pace
		}
		return max(pace, 0)
	}
	pace := max(toward(sample{n: start}), toward(last))
	if pace == 0 {
		return min(wait, max(cur.at, near))
	}
	left := time.Duration(math.Abs(float64(want-cur.n)) / pace)
	return max(min(wait, left/2), near)
}

// waitCountEvery is waitCount polling every step.
func waitCountEvery(ctx context.Context, c counter, t0 time.Time, start, want int, timeout, step time.Duration) (convergence, error) {
	return pollCount(ctx, c, t0, start, want, timeout, func(time.Duration, int) time.Duration { return step }, nil)
}

// pollCount counts until c reports want, bounded by timeout. The first
// count starts next(0, start) after t0: at t0 the count is start, and
// until 2026-12-07 counting it anyway cost a kernel-writing speaker a dump
// of its whole table (35 ms of a vCPU at 100,000 routes) in the first
// milliseconds of its withdraw, where a RIB count costs GoBGP 10 ms. Each
// later count starts next(now, n) after the one before started, or at once
// if that one took longer. With a probe (nil: none), the waits between
// counts are spent asking it every probeWait until it first reports the
// end state, and the count after that comes at once. The result's Step is
// the time from the last look that had not seen the end (a count or a
// probe) to the count that did: the figure's resolution.
func pollCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration, next func(now time.Duration, n int) time.Duration, probe func() (ended bool, err error)) (convergence, error) {
	res := convergence{}
	deadline := t0.Add(timeout)
	looked := t0                  // the last look that had not seen the end
	due := t0.Add(next(0, start)) // the next count
	for {
		for probe != nil && time.Now().Before(due) {
			began := time.Now()
			ended, err := probe()
			if err != nil {
				return res, err
			}
			if ended {
				probe, due = nil, began
				break
			}
			looked = began
			probeAt := began.Add(probeWait(time.Since(began)))
			if probeAt.After(due) {
				probeAt = due
			}
			if err := sleepUntil(ctx, probeAt); err != nil {
				return res, err
			}
		}
		if err := sleepUntil(ctx, due); err != nil {
			return res, err
		}
		began := time.Now()
		res.Step = began.Sub(looked)
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
		looked = began
		due = began.Add(next(now, n))
	}
}

// sleepUntil waits until t, or returns ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
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
