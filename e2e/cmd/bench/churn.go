package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

// churnPoll is how often a churn cycle counts the kernel's routes: a dump of
// 100,000 routes costs the kernel ~35 ms, so the measure's 20 ms would keep
// a core busy through the whole churn; 200 ms costs ~17 % of one while a
// cycle runs and still shows a cycle that overruns its interval.
const churnPoll = 200 * time.Millisecond

// Metrics the churn samples from the agent's /metrics (the Go collector).
const (
	metricGoroutines = "go_goroutines"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
	metricHeapAlloc  = "go_memstats_heap_alloc_bytes"
	// The heap size that triggers the next GC: the live heap the last GC
	// left × (1 + GOGC/100). Unlike heap in use it has no sawtooth, so it
	// is the series a leak shows in first.
	metricHeapGoal = "go_memstats_next_gc_bytes"
)

// churnResult is one churn run: the samples, one per cycle plus one at the
// end, and the cycles.
type churnResult struct {
	routes, slice      int
	interval, duration time.Duration
	install            convergence
	samples            []churnSample
	cycles             []churnCycle
}

// runChurn installs the whole table, then withdraws and re-announces a
// rotating slice of it every interval, sampling the agent at the start of
// each cycle.
func (b *bench) runChurn(ctx context.Context) (res churnResult, err error) {
	n := b.o.routes
	res = churnResult{routes: n, interval: b.o.churnInterval, duration: b.o.churn}
	if res.slice, err = churnSize(n, b.o.churnFraction); err != nil {
		return res, err
	}
	c, err := newRouteCounter(b.node.Netns, injectedRange, agentProtocol)
	if err != nil {
		return res, err
	}
	defer c.Close()
	agent, err := b.lab.Agents.Process(b.node)
	if err != nil {
		return res, err
	}
	if name := lab.ProcessName(agent.PID); name != "router" {
		return res, fmt.Errorf("agent pid %d is %q, not router", agent.PID, name)
	}
	b.step("announce %d routes; timing until all are in %s's kernel", n, b.node.Name)
	if res.install, _, err = b.timeAgent(ctx, c, "announce", "announced", 0, n); err != nil {
		return res, fmt.Errorf("route install: %w", err)
	}
	time.Sleep(settle)

	prof := &profiler{dir: b.o.profile, netns: b.node.Netns, url: agentPprof, seconds: b.o.profileSeconds}
	if err := prof.snapshot(ctx, "churn-start"); err != nil {
		return res, err
	}
	prof.startCPU(ctx)
	cycles := int(b.o.churn / b.o.churnInterval)
	b.step("churn: %d of %d routes withdrawn and re-announced every %s, %d cycles (%s)", res.slice, n, b.o.churnInterval, cycles, b.o.churn)
	tab := &churnTable{w: os.Stdout, every: max(1, int(time.Minute/b.o.churnInterval))}
	tab.header()
	tick := time.NewTicker(b.o.churnInterval)
	defer tick.Stop()
	began := time.Now()
	for i := 0; ; i++ {
		s, err := b.churnSample(ctx, c, agent.PID, time.Since(began))
		if err != nil {
			return res, err
		}
		res.samples = append(res.samples, s)
		tab.add(i, s, res.cycles)
		if i == cycles {
			break
		}
		cyc, err := b.churnCycle(ctx, c, sliceStart(i, res.slice, n), res.slice)
		if err != nil {
			return res, fmt.Errorf("churn cycle %d: %w", i, err)
		}
		res.cycles = append(res.cycles, cyc)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	return res, errors.Join(prof.snapshot(ctx, "churn-end"), prof.waitCPU(), res.save(b.o.profile))
}

// save writes every sample and cycle, one line each, into dir (the profile
// dir, when given), for a look beyond the one-a-minute table.
func (r churnResult) save(dir string) error {
	if dir == "" {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("at_s\trss_kib\thwm_kib\theap_inuse_b\theap_alloc_b\theap_goal_b\tgoroutines\tcpu_s\tkernel_routes\twithdrawn_s\trestored_s\tok\n")
	for i, s := range r.samples {
		fmt.Fprintf(&sb, "%.3f\t%d\t%d\t%.0f\t%.0f\t%.0f\t%d\t%.2f\t%d", s.At.Seconds(), s.RSSKiB, s.HWMKiB, s.HeapInuse, s.HeapAlloc, s.HeapGoal, s.Goroutines, s.CPU, s.Routes)
		if i < len(r.cycles) {
			c := r.cycles[i]
			fmt.Fprintf(&sb, "\t%.3f\t%.3f\t%t", c.Withdrawn.Seconds(), c.Restored.Seconds(), c.OK)
		}
		sb.WriteString("\n")
	}
	path := filepath.Join(dir, "churn-samples.tsv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("saving the churn samples: %w", err)
	}
	fmt.Fprintf(os.Stderr, "    samples %s\n", path)
	return nil
}

// churnCycle withdraws the slice of k routes from `from`, waits for the
// kernel to lose them, re-announces them and waits for the table to be
// whole again, all within one interval. A cycle that overruns is recorded,
// not an error: counting those is part of the measure.
func (b *bench) churnCycle(ctx context.Context, c counter, from, k int) (churnCycle, error) {
	n, interval := b.o.routes, b.o.churnInterval
	var cyc churnCycle
	t0 := time.Now()
	if err := b.injector.send(fmt.Sprintf("withdraw %d %d", from, k)); err != nil {
		return cyc, err
	}
	out, err := waitCountEvery(ctx, c, t0, n, n-k, interval, churnPoll)
	if err != nil && !errors.Is(err, errCountNotReached) {
		return cyc, err
	}
	cyc.Withdrawn = out.Done
	if _, err := b.injector.expect(ctx, "withdrawn", b.o.timeout); err != nil {
		return cyc, err
	}
	if err := b.injector.send(fmt.Sprintf("announce %d %d", from, k)); err != nil {
		return cyc, err
	}
	back, err := waitCountEvery(ctx, c, t0, n-k, n, interval, churnPoll)
	if err != nil && !errors.Is(err, errCountNotReached) {
		return cyc, err
	}
	cyc.OK = err == nil && out.Done > 0
	cyc.Restored = back.Done
	if _, err := b.injector.expect(ctx, "announced", b.o.timeout); err != nil {
		return cyc, err
	}
	return cyc, nil
}

func (b *bench) churnSample(ctx context.Context, c counter, pid int, at time.Duration) (churnSample, error) {
	s := churnSample{At: at}
	var err error
	if s.RSSKiB, err = lab.ProcStatusKiB(pid, "VmRSS"); err != nil {
		return s, err
	}
	if s.HWMKiB, err = lab.ProcStatusKiB(pid, "VmHWM"); err != nil {
		return s, err
	}
	if s.CPU, err = lab.ProcCPUSeconds(pid); err != nil {
		return s, err
	}
	m, err := scrapeAgent(ctx, b.node.Netns, metricGoroutines, metricHeapInuse, metricHeapAlloc, metricHeapGoal)
	if err != nil {
		return s, err
	}
	s.Goroutines, s.HeapInuse, s.HeapAlloc, s.HeapGoal = int(m[metricGoroutines]), m[metricHeapInuse], m[metricHeapAlloc], m[metricHeapGoal]
	if s.Routes, err = c.Count(); err != nil {
		return s, err
	}
	return s, nil
}

// churnTable prints one row a minute while the churn runs, so a run cut
// short still leaves its figures.
type churnTable struct {
	w     io.Writer
	every int // samples per row
	last  churnSample
}

func (t *churnTable) header() {
	fmt.Fprintln(t.w, "\n| min | RSS MiB | HWM MiB | heap in use MiB | heap alloc MiB | heap goal MiB | goroutines | CPU % since last row | kernel routes | cycles missed | slowest cycle s | machine load 1m |")
	fmt.Fprintln(t.w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
}

// add prints sample i when a row is due; cycles are the ones run so far.
func (t *churnTable) add(i int, s churnSample, cycles []churnCycle) {
	if i%t.every != 0 {
		return
	}
	cpu := "-"
	if i > 0 {
		cpu = fmt.Sprintf("%.0f", 100*(s.CPU-t.last.CPU)/(s.At-t.last.At).Seconds())
	}
	recent := cycles[max(0, len(cycles)-t.every):]
	var slowest time.Duration
	for _, c := range recent {
		slowest = max(slowest, c.Restored)
	}
	fmt.Fprintf(t.w, "| %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %s | %d | %d | %.2f | %s |\n",
		s.At.Minutes(), mib(s.RSSKiB), mib(s.HWMKiB), s.HeapInuse/(1<<20), s.HeapAlloc/(1<<20), s.HeapGoal/(1<<20), s.Goroutines, cpu, s.Routes, missed(cycles), slowest.Seconds(), loadAvg1())
	t.last = s
}

// loadAvg1 is the machine's 1-minute load average: the others' share of
// the cores the agent competes for.
func loadAvg1() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func mib(kib int) float64 { return float64(kib) / 1024 }

func missed(cycles []churnCycle) int {
	n := 0
	for _, c := range cycles {
		if !c.OK {
			n++
		}
	}
	return n
}

// print writes the summary: the series at the marked minutes, their trends
// over the fit window and the verdicts.
func (r churnResult) print(w io.Writer) error {
	if len(r.samples) < 2 {
		return fmt.Errorf("churn: %d samples, too few to summarize", len(r.samples))
	}
	restore := make([]float64, 0, len(r.cycles))
	for _, c := range r.cycles {
		if c.OK {
			restore = append(restore, c.Restored.Seconds())
		}
	}
	fmt.Fprintf(w, "\nchurn n=%d slice=%d interval_s=%.0f duration_s=%.0f install_s=%.3f cycles=%d missed=%d",
		r.routes, r.slice, r.interval.Seconds(), r.duration.Seconds(), r.install.Done.Seconds(), len(r.cycles), missed(r.cycles))
	if len(restore) > 0 {
		fmt.Fprintf(w, " cycle_restore_p50_s=%.2f cycle_restore_max_s=%.2f", median(restore), slices.Max(restore))
	}
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	fmt.Fprintf(w, " agent_cpu_pct=%.1f hwm_end_mib=%.1f\n", 100*(last.CPU-first.CPU)/(last.At-first.At).Seconds(), mib(last.HWMKiB))

	window := fitWindow(r.duration)
	series := []struct {
		name, unit string
		value      func(churnSample) float64
	}{
		{"RSS", "MiB", func(s churnSample) float64 { return mib(s.RSSKiB) }},
		{"heap in use", "MiB", func(s churnSample) float64 { return s.HeapInuse / (1 << 20) }},
		{"heap goal", "MiB", func(s churnSample) float64 { return s.HeapGoal / (1 << 20) }},
		{"goroutines", "", func(s churnSample) float64 { return float64(s.Goroutines) }},
	}
	marks := markMinutes(r.duration)
	fmt.Fprint(w, "\n| series |")
	for _, m := range marks {
		fmt.Fprintf(w, " min %d |", m)
	}
	fmt.Fprintf(w, " min-max, last %.3g min | slope per min (±SE) | fitted change | first / last min median | verdict |\n|---|", window.Minutes())
	for range marks {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w, "---|---|---|---|---|")
	for _, s := range series {
		ys := make([]float64, len(r.samples))
		for i, smp := range r.samples {
			ys[i] = s.value(smp)
		}
		tr, err := trendOf(s.name, s.unit, r.samples, ys, window)
		if err != nil {
			return err
		}
		label := s.name
		if s.unit != "" {
			label += " " + s.unit
		}
		fmt.Fprintf(w, "| %s |", label)
		for _, m := range marks {
			if smp, ok := sampleAt(r.samples, m); ok {
				fmt.Fprintf(w, " %.1f |", s.value(smp))
			} else {
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintf(w, " %.1f-%.1f | %+.3f (±%.3f) | %+.2f (%+.1f %%) | %.1f / %.1f | %s |\n",
			tr.Min, tr.Max, tr.Fit.Slope, tr.Fit.SlopeSE, tr.Rise, tr.RisePct, tr.First, tr.Last, tr.Verdict)
	}
	return nil
}
