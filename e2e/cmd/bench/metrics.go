package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// agentMetricsURL is the agent's /metrics (router run's --health-addr in the
// lab), reached from inside the node's namespace.
const agentMetricsURL = "http://127.0.0.1:9779/metrics"

// scrapeAgent reads the named unlabelled metrics from the agent's /metrics.
func scrapeAgent(ctx context.Context, netns string, names ...string) (map[string]float64, error) {
	out, err := agentMetrics(ctx, netns)
	if err != nil {
		return nil, err
	}
	return parseMetrics(out, names...)
}

// agentMetrics is the text of the agent's /metrics.
func agentMetrics(ctx context.Context, netns string) (string, error) {
	out, err := run(ctx, "ip", "netns", "exec", netns, "curl", "-sSf", "--max-time", "10", agentMetricsURL)
	if err != nil {
		return "", fmt.Errorf("agent metrics: %w", err)
	}
	return out, nil
}

// parseMetrics reads the value of each named unlabelled metric from
// Prometheus text exposition; a name missing from it is an error.
func parseMetrics(text string, names ...string) (map[string]float64, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	got := make(map[string]float64, len(names))
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", f[0], f[1], err)
		}
		got[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, fmt.Errorf("metric %s: not in the agent's /metrics", n)
		}
	}
	return got, nil
}

// passCounts are the agent's work counters around a measure: its route
// passes (every sync and update, nodebgp_route_sync_duration_seconds), its
// full route passes by reason (nodebgp_route_full_syncs_total, absent from
// agents built before it) and the Go garbage collector's cycles. They tell
// two runs of one build apart when their CPU seconds differ.
type passCounts struct {
	passes, gcCycles float64
	full             map[string]float64
}

const (
	metricRoutePasses = "nodebgp_route_sync_duration_seconds_count"
	metricGCCycles    = "go_gc_duration_seconds_count"
	metricFullPasses  = "nodebgp_route_full_syncs_total"
)

// readPassCounts scrapes the agent's /metrics for its passCounts.
func readPassCounts(ctx context.Context, netns string) (passCounts, error) {
	out, err := agentMetrics(ctx, netns)
	if err != nil {
		return passCounts{}, err
	}
	return parsePassCounts(out)
}

func parsePassCounts(text string) (passCounts, error) {
	m, err := parseMetrics(text, metricRoutePasses, metricGCCycles)
	if err != nil {
		return passCounts{}, err
	}
	p := passCounts{passes: m[metricRoutePasses], gcCycles: m[metricGCCycles], full: map[string]float64{}}
	prefix := metricFullPasses + `{reason="`
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		reason, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return passCounts{}, fmt.Errorf("metric %s: cannot read %q", metricFullPasses, line)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return passCounts{}, fmt.Errorf("metric %s: value %q: %w", metricFullPasses, value, err)
		}
		p.full[reason] = v
	}
	return p, nil
}

// since is what happened between earlier and p.
func (p passCounts) since(earlier passCounts) passCounts {
	d := passCounts{passes: p.passes - earlier.passes, gcCycles: p.gcCycles - earlier.gcCycles, full: map[string]float64{}}
	for reason, v := range p.full {
		if n := v - earlier.full[reason]; n != 0 {
			d.full[reason] = n
		}
	}
	return d
}

// fields prints the counts as the result lines' key=value fields; full_by
// lists the full passes' reasons, "-" when there was none.
func (p passCounts) fields() string {
	total := 0.0
	var by []string
	for _, reason := range slices.Sorted(maps.Keys(p.full)) {
		total += p.full[reason]
		by = append(by, fmt.Sprintf("%s:%.0f", reason, p.full[reason]))
	}
	if len(by) == 0 {
		by = []string{"-"}
	}
	return fmt.Sprintf("route_passes=%.0f full_passes=%.0f full_by=%s gc_cycles=%.0f", p.passes, total, strings.Join(by, ","), p.gcCycles)
}
