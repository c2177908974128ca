package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChurnSizeIsTheFractionOfTheTable(t *testing.T) {
	tests := []struct {
		n        int
		fraction float64
		want     int
		wantErr  bool
	}{
		{n: 100000, fraction: 0.1, want: 10000},
		{n: 10000, fraction: 0.1, want: 1000},
		{n: 5, fraction: 0.01, want: 1}, // never an empty slice
		{n: 100, fraction: 1, want: 100},
		{n: 100, fraction: 0, wantErr: true},
		{n: 100, fraction: 1.5, wantErr: true},
		{n: 100, fraction: math.NaN(), wantErr: true},
	}
	for _, tt := range tests {
		got, err := churnSize(tt.n, tt.fraction)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("churnSize(%d, %g) = %d, %v; want %d, error %t", tt.n, tt.fraction, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSliceStartRotatesRoundTheTable(t *testing.T) {
	tests := []struct {
		name    string
		k, n    int
		cycles  int
		want    []int
		covered int // distinct routes churned over the cycles
	}{
		{name: "tenth of the table: ten cycles cover it, the eleventh starts over", k: 10, n: 100, cycles: 11, want: []int{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 0}, covered: 100},
		{name: "a slice that does not divide the table wraps past its end", k: 30, n: 100, cycles: 5, want: []int{0, 30, 60, 90, 20}, covered: 100},
		{name: "no overflow at large cycle counts", k: 10000, n: 100000, cycles: 3, want: []int{0, 10000, 20000}, covered: 30000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			seen := map[int]bool{}
			for i := range tt.cycles {
				from := sliceStart(i, tt.k, tt.n)
				got = append(got, from)
				for j := range tt.k {
					seen[(from+j)%tt.n] = true
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("starts = %v, want %v", got, tt.want)
			}
			if len(seen) != tt.covered {
				t.Errorf("%d routes churned, want %d", len(seen), tt.covered)
			}
		})
	}
	if got := sliceStart(1<<40/10000, 10000, 100000); got < 0 || got >= 100000 {
		t.Errorf("sliceStart at a huge cycle = %d, outside the table", got)
	}
}

func TestFitLine(t *testing.T) {
	tests := []struct {
		name           string
		xs, ys         []float64
		slope, seAbove float64
		wantErr        string
	}{
		{name: "exact line has its slope and no error", xs: []float64{0, 1, 2, 3}, ys: []float64{5, 7, 9, 11}, slope: 2},
		{name: "flat noise has slope 0", xs: []float64{0, 1, 2, 3}, ys: []float64{1, 3, 1, 3}, slope: 0.4, seAbove: 0.1},
		{name: "two points are too few", xs: []float64{0, 1}, ys: []float64{0, 1}, wantErr: "3 or more points"},
		{name: "one x repeated has no slope", xs: []float64{2, 2, 2}, ys: []float64{0, 1, 2}, wantErr: "distinct x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := fitLine(tt.xs, tt.ys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(f.Slope-tt.slope) > 1e-9 {
				t.Errorf("slope = %g, want %g", f.Slope, tt.slope)
			}
			if tt.seAbove == 0 && f.SlopeSE > 1e-9 || tt.seAbove > 0 && f.SlopeSE <= tt.seAbove {
				t.Errorf("slope SE = %g, want above %g", f.SlopeSE, tt.seAbove)
			}
		})
	}
}

// samplesEvery10s returns samples over d with y(t) from f.
func samplesEvery10s(d time.Duration, f func(i int, minutes float64) float64) ([]churnSample, []float64) {
	var s []churnSample
	var ys []float64
	for i := 0; time.Duration(i)*10*time.Second <= d; i++ {
		at := time.Duration(i) * 10 * time.Second
		s = append(s, churnSample{At: at})
		ys = append(ys, f(i, at.Minutes()))
	}
	return s, ys
}

func TestTrendVerdict(t *testing.T) {
	sawtooth := func(i int, _ float64) float64 { return 100 + float64(i%6)*4 } // a GC cycle a minute
	tests := []struct {
		name    string
		y       func(i int, minutes float64) float64
		verdict string
	}{
		{name: "a sawtooth heap with no trend is flat", y: sawtooth, verdict: "flat"},
		{name: "a leak of 1 MiB a minute under the sawtooth is growing", y: func(i int, m float64) float64 { return sawtooth(i, m) + m }, verdict: "growing"},
		{name: "a clear but tiny drift (0.2 % over the window) is flat", y: func(i int, m float64) float64 { return 100 + m*0.01 }, verdict: "flat"},
		{name: "memory handed back is shrinking", y: func(i int, m float64) float64 { return 200 - 2*m }, verdict: "shrinking"},
		{name: "constant goroutines are flat", y: func(int, float64) float64 { return 57 }, verdict: "flat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, ys := samplesEvery10s(30*time.Minute, tt.y)
			tr, err := trendOf("x", "MiB", samples, ys, fitWindow(30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Verdict != tt.verdict {
				t.Errorf("verdict = %s (slope %g ± %g, change %.2f %%), want %s", tr.Verdict, tr.Fit.Slope, tr.Fit.SlopeSE, tr.RisePct, tt.verdict)
			}
		})
	}
}

func TestTrendFitsOnlyTheWindowAndReadsItsEnds(t *testing.T) {
	// Ten minutes of warm-up climbing to 100, then flat at 100 with the
	// last minute at 101: the warm-up must not count as growth.
	samples, ys := samplesEvery10s(30*time.Minute, func(_ int, m float64) float64 {
		switch {
		case m < 10:
			return 10 * m
		case m > 29:
			return 101
		}
		return 100
	})
	tr, err := trendOf("RSS", "MiB", samples, ys, fitWindow(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Verdict != "flat" || tr.Min != 100 || tr.Max != 101 || tr.First != 100 || tr.Last != 101 {
		t.Errorf("trend = %+v; want flat, min 100, max 101, first 100, last 101", tr)
	}
	if _, err := trendOf("RSS", "MiB", nil, nil, time.Minute); err == nil {
		t.Error("no samples gave a trend")
	}
}

func TestFitWindowAndMarks(t *testing.T) {
	tests := []struct {
		d      time.Duration
		window time.Duration
		marks  []int
	}{
		{d: 30 * time.Minute, window: 20 * time.Minute, marks: []int{1, 10, 20, 30}},
		{d: 60 * time.Minute, window: 20 * time.Minute, marks: []int{1, 10, 20, 30, 40, 50, 60}},
		{d: 25 * time.Minute, window: 50 * time.Minute / 3, marks: []int{1, 10, 20, 25}},
		{d: 3 * time.Minute, window: 2 * time.Minute, marks: []int{1, 2, 3}},
	}
	for _, tt := range tests {
		if got := fitWindow(tt.d); got != tt.window {
			t.Errorf("fitWindow(%s) = %s, want %s", tt.d, got, tt.window)
		}
		if got := markMinutes(tt.d); !slices.Equal(got, tt.marks) {
			t.Errorf("markMinutes(%s) = %v, want %v", tt.d, got, tt.marks)
		}
	}
}

func TestSampleAtIsTheSampleNearestTheMinute(t *testing.T) {
	samples := []churnSample{{At: 0, Routes: 0}, {At: 50 * time.Second, Routes: 1}, {At: 60*time.Second + 40*time.Millisecond, Routes: 2}, {At: 70 * time.Second, Routes: 3}}
	if s, ok := sampleAt(samples, 1); !ok || s.Routes != 2 {
		t.Errorf("minute 1 = %+v, %t; want the sample just after 60 s", s, ok)
	}
	if s, ok := sampleAt(samples, 0); !ok || s.Routes != 0 {
		t.Errorf("minute 0 = %+v, %t; want the first sample", s, ok)
	}
	if _, ok := sampleAt(samples, 5); ok {
		t.Error("minute 5 found a sample minutes away from it")
	}
}

func TestParseMetricsReadsUnlabelledValues(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 57
go_memstats_heap_inuse_bytes 1.2345e+07
go_gc_duration_seconds{quantile="0.5"} 0.0001
`
	got, err := parseMetrics(text, "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil || got["go_goroutines"] != 57 || got["go_memstats_heap_inuse_bytes"] != 12345000 {
		t.Fatalf("parseMetrics = %v, %v", got, err)
	}
	if _, err := parseMetrics(text, "go_memstats_heap_alloc_bytes"); err == nil || !strings.Contains(err.Error(), "go_memstats_heap_alloc_bytes") {
		t.Errorf("a missing metric gave %v, want an error naming it", err)
	}
	if _, err := parseMetrics("go_goroutines lots\n", "go_goroutines"); err == nil {
		t.Error("a bad value was read")
	}
}

func TestPassCountsReadFullPassesByReasonAndTheirDifference(t *testing.T) {
	before := `nodebgp_route_sync_duration_seconds_count 10
go_gc_duration_seconds_count 4
nodebgp_route_full_syncs_total{reason="start"} 1
`
	after := `nodebgp_route_sync_duration_seconds_count 42
go_gc_duration_seconds_count 11
nodebgp_route_full_syncs_total{reason="period"} 2
nodebgp_route_full_syncs_total{reason="start"} 1
`
	b, err := parsePassCounts(before)
	if err != nil {
		t.Fatal(err)
	}
	a, err := parsePassCounts(after)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.since(b).fields(), "route_passes=32 full_passes=2 full_by=period:2 gc_cycles=7"; got != want {
		t.Errorf("since = %q, want %q", got, want)
	}
	if got, want := b.since(b).fields(), "route_passes=0 full_passes=0 full_by=- gc_cycles=0"; got != want {
		t.Errorf("nothing happened = %q, want %q", got, want)
	}
	// An agent built before the full-pass counter: no full_by, no error.
	old, err := parsePassCounts("nodebgp_route_sync_duration_seconds_count 3\ngo_gc_duration_seconds_count 1\n")
	if err != nil || len(old.full) != 0 {
		t.Errorf("an agent without the counter: %+v, %v", old, err)
	}
}
