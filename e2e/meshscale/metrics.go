// Package meshscale is nodebgp's full-mesh ceiling benchmark (`make
// bench-mesh`): one real agent (`router run`) against a real kube-apiserver
// holding N Node objects, so that it peers with N nodes in a full mesh, and
// N GoBGP speakers (e2e/cmd/meshpeers) standing in for those nodes. For each
// N it times the agent's start to every session Established and every pod
// CIDR in its kernel, and reads its RSS, its CPU at steady state and its
// node pass duration. It runs in namespaces of its own (msc-*), not in the
// lab, so it needs no lab lock. The benchmark is in meshscale_test.go (build
// tag e2e); this file holds its pure parts.
package meshscale

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Scrape is what the benchmark reads from the agent's /metrics.
type Scrape struct {
	Established  int     // nodebgp_bgp_peers{state="established"}
	KernelRoutes int     // nodebgp_kernel_routes
	PassSum      float64 // nodebgp_node_pass_duration_seconds_sum
	PassCount    int     // nodebgp_node_pass_duration_seconds_count
}

// ParseMetrics reads a Prometheus text exposition; a metric that is absent
// stays zero (the agent sets nodebgp_bgp_peers only once it has peers).
func ParseMetrics(r io.Reader) (Scrape, error) {
	var s Scrape
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		set := func(into func(float64)) error {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return fmt.Errorf("metric %s: value %q: %w", name, value, err)
			}
			into(v)
			return nil
		}
		var err error
		switch name {
		case `nodebgp_bgp_peers{state="established"}`:
			err = set(func(v float64) { s.Established = int(v) })
		case "nodebgp_kernel_routes":
			err = set(func(v float64) { s.KernelRoutes = int(v) })
		case "nodebgp_node_pass_duration_seconds_sum":
			err = set(func(v float64) { s.PassSum = v })
		case "nodebgp_node_pass_duration_seconds_count":
			err = set(func(v float64) { s.PassCount = int(v) })
		}
		if err != nil {
			return s, err
		}
	}
	return s, sc.Err()
}

// MeanPass is the mean node pass duration in seconds between two scrapes,
// and how many passes ran; 0, 0 when none did.
func MeanPass(before, after Scrape) (float64, int) {
	n := after.PassCount - before.PassCount
	if n <= 0 {
		return 0, 0
	}
	return (after.PassSum - before.PassSum) / float64(n), n
}
