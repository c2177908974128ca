package meshscale

import (
	"strings"
	"testing"
)

const exposition = `# HELP nodebgp_bgp_peers BGP peers by session state.
# TYPE nodebgp_bgp_peers gauge
nodebgp_bgp_peers{state="active"} 3
nodebgp_bgp_peers{state="established"} 247
nodebgp_kernel_routes 246
nodebgp_node_pass_duration_seconds_bucket{le="0.001"} 0
nodebgp_node_pass_duration_seconds_sum 0.75
nodebgp_node_pass_duration_seconds_count 5
`

func TestParseMetricsReadsTheFiguresTheBenchmarkNeeds(t *testing.T) {
	got, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	want := Scrape{Established: 247, KernelRoutes: 246, PassSum: 0.75, PassCount: 5}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseMetricsRejectsAValueThatIsNoNumber(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("nodebgp_kernel_routes many\n")); err == nil {
		t.Fatal("want an error naming the metric")
	}
}

func TestMeanPassIsOverThePassesBetweenTwoScrapes(t *testing.T) {
	mean, n := MeanPass(Scrape{PassSum: 1, PassCount: 4}, Scrape{PassSum: 1.5, PassCount: 6})
	if n != 2 || mean != 0.25 {
		t.Errorf("got %v over %d, want 0.25 over 2", mean, n)
	}
	if mean, n := MeanPass(Scrape{PassCount: 4}, Scrape{PassCount: 4}); n != 0 || mean != 0 {
		t.Errorf("no pass between: got %v over %d", mean, n)
	}
}
