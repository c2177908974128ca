package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// agentMetricsURL is the agent's /metrics (router run's --health-addr in the
// lab), reached from inside the node's namespace.
const agentMetricsURL = "http://127.0.0.1:9779/metrics"

// scrapeAgent reads the named unlabelled metrics from the agent's /metrics.
func scrapeAgent(ctx context.Context, netns string, names ...string) (map[string]float64, error) {
	out, err := run(ctx, "ip", "netns", "exec", netns, "curl", "-sSf", "--max-time", "10", agentMetricsURL)
	if err != nil {
		return nil, fmt.Errorf("agent metrics: %w", err)
	}
	return parseMetrics(out, names...)
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
