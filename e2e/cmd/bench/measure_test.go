package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPollStepScalesWithRoutesWithinBounds(t *testing.T) {
	tests := []struct {
		routes int
		want   time.Duration
	}{
		{routes: 10, want: 2 * time.Millisecond},
		{routes: 1000, want: 2 * time.Millisecond},
		{routes: 5000, want: 10 * time.Millisecond},
		{routes: 10000, want: 20 * time.Millisecond},
		{routes: 100000, want: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := pollStep(tt.routes); got != tt.want {
			t.Errorf("pollStep(%d) = %s, want %s", tt.routes, got, tt.want)
		}
	}
}

func TestNextWaitCountsOftenOnlyNearTheEnd(t *testing.T) {
	const near = 20 * time.Millisecond // a table of 10,000 routes or more
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name      string
		start     int
		last, cur sample
		want      int
		wait      time.Duration
	}{
		{"nothing counted yet: the smallest step, an empty table costs nothing to count", 0, sample{}, sample{ms(20), 0}, 100000, minPollStep},
		{"a small table is counted often", 0, sample{}, sample{ms(100), 15000}, 100000, ms(30)},
		{"far from the end at this pace: in proportion to the table", 0, sample{ms(800), 50000}, sample{ms(1000), 60000}, 100000, ms(120)},
		{"150 ms left at this pace: half of it", 0, sample{ms(200), 40000}, sample{ms(400), 80000}, 110000, ms(75)},
		{"the pace picked up: the recent one counts", 0, sample{ms(1500), 60000}, sample{ms(1600), 80000}, 100000, ms(50)},
		{"5 ms left: near", 0, sample{ms(480), 95000}, sample{ms(500), 99000}, 100000, near},
		{"a withdraw closes in on zero the same way", 100000, sample{ms(200), 60000}, sample{ms(300), 30000}, 0, ms(50)},
		{"moving away from want: in proportion to the table", 5000, sample{ms(200), 4500}, sample{ms(300), 4000}, 100000, ms(8)},
		{"no move for long: in proportion to the table", 50000, sample{ms(200), 50000}, sample{ms(300), 50000}, 0, ms(100)},
		{"a withdraw's first count: near, not the table's 200 ms", 100000, sample{n: 100000}, sample{ms(1), 100000}, 0, near},
		{"no move after 60 ms: as long again", 100000, sample{ms(30), 100000}, sample{ms(60), 100000}, 0, ms(60)},
		{"a withdraw's last few routes: the step of the table left, not of the start", 10000, sample{ms(20), 4000}, sample{ms(30), 1000}, 0, minPollStep},
		{"an install's last few routes: the step of its whole table", 0, sample{ms(20), 60000}, sample{ms(30), 90000}, 100000, near},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextWait(tt.start, tt.last, tt.cur, tt.want); got != tt.wait {
				t.Errorf("nextWait = %s, want %s", got, tt.wait)
			}
		})
	}
}

// scriptedCounter returns its counts one a call, then the last for ever.
type scriptedCounter struct {
	counts []int
	calls  int
}

func (c *scriptedCounter) Count() (int, error) {
	n := c.counts[min(c.calls, len(c.counts)-1)]
	c.calls++
	return n, nil
}
func (c *scriptedCounter) String() string { return "a scripted count" }

func TestPollCountStopsAtWantAndAsksTheWaitFromEachCount(t *testing.T) {
	c := &timedCounter{scriptedCounter: scriptedCounter{counts: []int{0, 0, 10, 60, 100}}}
	var asked []int
	res, err := pollCount(context.Background(), c, time.Now(), 0, 100, time.Minute, func(_ time.Duration, n int) time.Duration {
		asked = append(asked, n)
		return time.Millisecond
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.calls != 5 || res.First == 0 || res.Done < res.First || !near(res.Step, c.at[4].Sub(c.at[3])) {
		t.Errorf("%d counts, first move at %s, done at %s, step %s; want 5 counts, 0 < first <= done, step %s (between the last two counts)", c.calls, res.First, res.Done, res.Step, c.at[4].Sub(c.at[3]))
	}
	if want := []int{0, 0, 0, 10, 60}; !slices.Equal(asked, want) {
		t.Errorf("waits asked for counts %v, want %v (the start, then each count but the last)", asked, want)
	}
}

// timedCounter is a scriptedCounter that notes when each count came.
type timedCounter struct {
	scriptedCounter
	at []time.Time
}

func (c *timedCounter) Count() (int, error) {
	c.at = append(c.at, time.Now())
	return c.scriptedCounter.Count()
}

func TestPollCountFirstCountsOneWaitAfterTheStartNotAtIt(t *testing.T) {
	c := &timedCounter{scriptedCounter: scriptedCounter{counts: []int{100, 0}}}
	const wait = 30 * time.Millisecond
	t0 := time.Now()
	if _, err := pollCount(context.Background(), c, t0, 100, 0, time.Minute, func(time.Duration, int) time.Duration { return wait }, nil); err != nil {
		t.Fatal(err)
	}
	if len(c.at) != 2 {
		t.Fatalf("%d counts, want 2", len(c.at))
	}
	for i, at := range c.at {
		if since := at.Sub(t0); since < time.Duration(i+1)*wait {
			t.Errorf("count %d came %s after the start, want at least %s: the count at the start is known, and counting it costs the speaker timed", i+1, since, time.Duration(i+1)*wait)
		}
	}
}

func TestPollCountGivesUpAtTheTimeout(t *testing.T) {
	c := &scriptedCounter{counts: []int{0, 5}}
	_, err := pollCount(context.Background(), c, time.Now(), 0, 100, 20*time.Millisecond, func(time.Duration, int) time.Duration { return time.Millisecond }, nil)
	if !errors.Is(err, errCountNotReached) {
		t.Errorf("err = %v, want errCountNotReached", err)
	}
}

// near says whether a step pollCount measured is the one its counter saw:
// they take the time a few instructions apart.
func near(got, want time.Duration) bool {
	return (got - want).Abs() < 200*time.Microsecond
}

// scriptedProbe reports the end from its ends-th call on, and notes when
// each call came.
type scriptedProbe struct {
	ends int
	at   []time.Time
}

func (p *scriptedProbe) probe() (bool, error) {
	p.at = append(p.at, time.Now())
	return len(p.at) >= p.ends, nil
}

func TestPollCountCountsAtOnceWhenTheProbeSeesTheEnd(t *testing.T) {
	c := &timedCounter{scriptedCounter: scriptedCounter{counts: []int{100}}}
	p := &scriptedProbe{ends: 5}
	const wait = 10 * time.Second // the counts' pace alone would count once, after 10 s
	t0 := time.Now()
	res, err := pollCount(context.Background(), c, t0, 0, 100, time.Minute, func(time.Duration, int) time.Duration { return wait }, p.probe)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.at) != 5 || len(c.at) != 1 {
		t.Fatalf("%d probes and %d counts, want 5 and 1: no probe after the one that saw the end", len(p.at), len(c.at))
	}
	for i := 1; i < len(p.at); i++ {
		if gap := p.at[i].Sub(p.at[i-1]); gap < minProbeWait {
			t.Errorf("probe %d came %s after the one before, want at least %s", i+1, gap, minProbeWait)
		}
	}
	if res.Done >= wait || c.at[0].Before(p.at[4]) {
		t.Errorf("done at %s, counted %s after t0; want the count right after the 5th probe (%s), long before the paced count at %s", res.Done, c.at[0].Sub(t0), p.at[4].Sub(t0), wait)
	}
	if want := c.at[0].Sub(p.at[3]); !near(res.Step, want) {
		t.Errorf("step %s, want %s: from the last probe that had not seen the end to the count that did", res.Step, want)
	}
}

func TestPollCountGoesOnCountingWhenTheProbeSawTheEndBeforeTheCount(t *testing.T) {
	// The last prefix is where it ends up, but other routes are not yet: a
	// speaker that does not keep the injector's order.
	c := &timedCounter{scriptedCounter: scriptedCounter{counts: []int{90, 95, 100}}}
	p := &scriptedProbe{ends: 1}
	res, err := pollCount(context.Background(), c, time.Now(), 0, 100, time.Minute, func(time.Duration, int) time.Duration { return 5 * time.Millisecond }, p.probe)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.at) != 1 || len(c.at) != 3 || res.Done == 0 {
		t.Errorf("%d probes, %d counts, done at %s; want 1 probe, then counts at the pace until the count is 100", len(p.at), len(c.at), res.Done)
	}
}

func TestProbeWaitKeepsProbingASmallShareOfTheSpeakersCPU(t *testing.T) {
	for _, tt := range []struct {
		took, want time.Duration
	}{
		{0, time.Millisecond},
		{5 * time.Microsecond, time.Millisecond},        // a kernel lookup: the floor
		{200 * time.Microsecond, 10 * time.Millisecond}, // a slower lookup: as much less often
	} {
		if got := probeWait(tt.took); got != tt.want {
			t.Errorf("probeWait(%s) = %s, want %s", tt.took, got, tt.want)
		}
	}
}
