package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// churnSize is how many of n routes one churn cycle withdraws and
// re-announces.
func churnSize(n int, fraction float64) (int, error) {
	if !(fraction > 0 && fraction <= 1) {
		return 0, fmt.Errorf("-churn-fraction %g: must be in (0, 1]", fraction)
	}
	return max(1, int(math.Round(fraction*float64(n)))), nil
}

// sliceStart is where cycle's slice of k routes starts in a table of n: the
// slices follow each other round the table, so every route is churned in
// turn rather than the same k over and over.
func sliceStart(cycle, k, n int) int {
	return int((int64(cycle) * int64(k)) % int64(n))
}

// churnSample is the agent as seen at the start of one churn cycle, with
// the whole table meant to be installed.
type churnSample struct {
	At         time.Duration // since the churn began
	RSSKiB     int           // VmRSS
	HWMKiB     int           // VmHWM, the peak so far
	HeapInuse  float64       // go_memstats_heap_inuse_bytes
	HeapAlloc  float64       // go_memstats_heap_alloc_bytes
	HeapGoal   float64       // go_memstats_next_gc_bytes
	Goroutines int           // go_goroutines
	CPU        float64       // user+system seconds so far
	Routes     int           // ours in the kernel
}

// churnCycle is one withdraw and re-announce of a slice.
type churnCycle struct {
	Withdrawn time.Duration // from the withdraw until the slice was out of the kernel
	Restored  time.Duration // from the withdraw until the table was whole again
	OK        bool          // the table was whole again within the interval
}

// linearFit is the least-squares line through (x, y) with the standard
// error of its slope.
type linearFit struct {
	Slope, Intercept, SlopeSE float64
}

func fitLine(xs, ys []float64) (linearFit, error) {
	n := float64(len(xs))
	if len(xs) != len(ys) || len(xs) < 3 {
		return linearFit{}, fmt.Errorf("a line needs 3 or more points, have %d x and %d y", len(xs), len(ys))
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return linearFit{}, fmt.Errorf("a line needs 2 or more distinct x")
	}
	f := linearFit{Slope: sxy / sxx}
	f.Intercept = my - f.Slope*mx
	var sse float64
	for i := range xs {
		r := ys[i] - (f.Intercept + f.Slope*xs[i])
		sse += r * r
	}
	f.SlopeSE = math.Sqrt(sse / (n - 2) / sxx)
	return f, nil
}

// trend is one series over the fit window: its line, range and verdict.
type trend struct {
	Name               string
	Unit               string
	Fit                linearFit // per minute
	Window             time.Duration
	Mean, Min, Max     float64
	Rise               float64 // the fitted change over the window
	RisePct            float64 // Rise as % of Mean
	Verdict            string  // flat, growing or shrinking
	First, Last, Worst float64 // medians of the window's first and last minute; max over the window
}

// trendThresholdPct is the smallest change over the fit window the verdict
// calls growth: below it, even a statistically clear slope is a drift too
// small to matter (a 1 % rise of 100 MiB over 20 min is 50 MiB a day, which
// the next GC cycle or the scavenger may return).
const trendThresholdPct = 1.0

// trendOf fits ys (one per sample) against the samples' times over the last
// window. The verdict is growing (or shrinking) only when the slope is
// more than two standard errors from zero AND the fitted change over the
// window exceeds trendThresholdPct of the mean: a sawtooth heap sampled at
// random GC phases is noisy, and samples 10 s apart are not independent,
// so the standard error alone understates the noise.
func trendOf(name, unit string, samples []churnSample, ys []float64, window time.Duration) (trend, error) {
	t := trend{Name: name, Unit: unit, Window: window}
	if len(samples) == 0 {
		return t, fmt.Errorf("%s: no samples", name)
	}
	end := samples[len(samples)-1].At
	var xs, ws []float64
	var first, last []float64
	for i, s := range samples {
		if s.At < end-window {
			continue
		}
		xs = append(xs, s.At.Minutes())
		ws = append(ws, ys[i])
		if s.At < end-window+time.Minute {
			first = append(first, ys[i])
		}
		if s.At > end-time.Minute {
			last = append(last, ys[i])
		}
	}
	fit, err := fitLine(xs, ws)
	if err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	t.Fit = fit
	t.Min, t.Max = slices.Min(ws), slices.Max(ws)
	for _, w := range ws {
		t.Mean += w
	}
	t.Mean /= float64(len(ws))
	t.Rise = fit.Slope * (xs[len(xs)-1] - xs[0])
	if t.Mean != 0 {
		t.RisePct = 100 * t.Rise / t.Mean
	}
	t.First, t.Last, t.Worst = median(first), median(last), t.Max
	t.Verdict = "flat"
	if math.Abs(fit.Slope) > 2*fit.SlopeSE && math.Abs(t.RisePct) > trendThresholdPct {
		t.Verdict = "growing"
		if fit.Slope < 0 {
			t.Verdict = "shrinking"
		}
	}
	return t, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fitWindow is the stretch of a churn of length d the trends are fitted
// over: the last 20 minutes, or the last two thirds of a shorter run, so
// the first minutes (the heap growing into its steady state) stay out.
func fitWindow(d time.Duration) time.Duration {
	return min(20*time.Minute, d*2/3)
}

// markMinutes are the minutes the summary shows: 1, then every 10th, and
// the last; every minute in a run shorter than 10.
func markMinutes(d time.Duration) []int {
	total := int(d / time.Minute)
	step := 10
	if total < 10 {
		step = 1
	}
	var out []int
	for m := 1; m <= total; m++ {
		if m == 1 || m%step == 0 || m == total {
			out = append(out, m)
		}
	}
	return out
}

// sampleAt is the sample taken nearest to minute m (the ticker's samples
// land a little after each mark, never exactly on it); false when none is
// within half a minute of it.
func sampleAt(samples []churnSample, m int) (churnSample, bool) {
	mark := time.Duration(m) * time.Minute
	var got churnSample
	best := 30 * time.Second
	ok := false
	for _, s := range samples {
		if d := (s.At - mark).Abs(); d <= best {
			got, best, ok = s, d, true
		}
	}
	return got, ok
}
