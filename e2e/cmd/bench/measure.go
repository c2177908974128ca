package main

import (
	"context"
	"errors"
	"fmt"
	"math"
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
// nextWait.
func waitCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration) (convergence, error) {
	last := sample{n: start}
	return pollCount(ctx, c, t0, start, want, timeout, func(now time.Duration, n int) time.Duration {
		cur := sample{at: now, n: n}
		wait := nextWait(start, last, cur, want)
		last = cur
		return wait
	})
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
	return pollCount(ctx, c, t0, start, want, timeout, func(time.Duration, int) time.Duration { return step })
}

// pollCount counts until c reports want, bounded by timeout. The first
// count starts next(0, start) after t0: at t0 the count is start, and
// until 2026-12-07 counting it anyway cost a kernel-writing speaker a dump
// of its whole table (35 ms of a vCPU at 100,000 routes) in the first
// milliseconds of its withdraw, where a RIB count costs GoBGP 10 ms. Each
// later count starts next(now, n) after the one before started, or at once
// if that one took longer; the result's Step is the last such interval:
// the figure's resolution.
func pollCount(ctx context.Context, c counter, t0 time.Time, start, want int, timeout time.Duration, next func(now time.Duration, n int) time.Duration) (convergence, error) {
	res := convergence{Step: next(0, start)}
	deadline := t0.Add(timeout)
	began := t0
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Until(began.Add(res.Step))):
		}
		began = time.Now()
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
