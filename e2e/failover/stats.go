// Package failover is nodebgp's failover benchmark (`make bench-failover`):
// in the netns lab it injects faults (a node's link goes down; a ToR goes
// silent) and times how long until the failed next hop is out of the other
// nodes' kernels, with BFD and with the BGP hold timer alone. The benchmark
// is in failover_test.go (build tag e2e); this file holds its pure parts,
// the statistics and the table.
package failover

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Sample is one fault's outcome: how long until the failed next hop was out
// of every other kernel (Detect) and, after the fault was lifted, until the
// routes were all back (Heal). TimedOut marks a Detect that never happened
// within the bound: Detect is then the bound, a lower limit.
type Sample struct {
	Detect, Heal time.Duration
	TimedOut     bool
}

// Row is one configuration and kind of fault over all its samples.
type Row struct {
	Config, Fault string
	Samples       []Sample
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds:
// the smallest value with at least p% of the values at or below it.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100 + 0.999999)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// WriteTable prints rows as a Markdown table: per configuration and fault,
// the number of faults and the p50 and max of detection and of healing. A
// detection bound that was hit shows as ">bound".
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| config | fault | faults | detect p50 s | detect max s | heal p50 s | heal max s |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		var det, heal []time.Duration
		timedOut := false
		for _, s := range r.Samples {
			det = append(det, s.Detect)
			heal = append(heal, s.Heal)
			timedOut = timedOut || s.TimedOut
		}
		maxDet := seconds(Percentile(det, 100))
		if timedOut {
			maxDet = ">" + maxDet
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", r.Config, r.Fault, len(r.Samples),
			seconds(Percentile(det, 50)), maxDet, seconds(Percentile(heal, 50)), seconds(Percentile(heal, 100)))
	}
}

// Raw is every sample of rows, one line per row, for the record.
func Raw(rows []Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s/%s detect:", r.Config, r.Fault)
		for _, s := range r.Samples {
			fmt.Fprintf(&b, " %s", seconds(s.Detect))
		}
		b.WriteString(" heal:")
		for _, s := range r.Samples {
			fmt.Fprintf(&b, " %s", seconds(s.Heal))
		}
		b.WriteString("\n")
	}
	return b.String()
}
