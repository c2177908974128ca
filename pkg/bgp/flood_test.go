package bgp

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// floodOutcome is what a flood did to the node's session with the router.
type floodOutcome struct {
	// Tripped: the prefix limit shut the session down, TrippedAfter the
	// flood began.
	Tripped      bool
	TrippedAfter time.Duration
	// Settled: after the trip, the node dropped every route of the router,
	// SettledAfter the flood began. GoBGP queues what it has read from the
	// socket ahead of the session's end and handles all of it (into the
	// Adj-RIB-In, with a limit check each) before it drops the routes.
	Settled      bool
	SettledAfter time.Duration
	// AllIn: every route sent was received (and no trip), AllInAfter.
	AllIn      bool
	AllInAfter time.Duration
	// MaxReceived is the most routes the node was seen holding from the
	// router at once.
	MaxReceived int
}

// awaitFlood polls n's session with r until every route sent is received,
// or the prefix limit trips and the node has dropped the router's routes,
// or timeout passes. Each poll costs GoBGP a count of the peer's Adj-RIB-In
// (ListPeer), so it polls four times a second only.
func awaitFlood(t testing.TB, n *node, r *floodRouter, routes int, began time.Time, timeout time.Duration) floodOutcome {
	t.Helper()
	var out floodOutcome
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		peers, err := n.speaker.Peers(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if p.Address != r.addr {
				continue
			}
			out.MaxReceived = max(out.MaxReceived, p.Received)
			switch {
			case p.PrefixLimited && !out.Tripped:
				out.Tripped, out.TrippedAfter = true, time.Since(began)
			case out.Tripped && p.State != StateEstablished && p.Received == 0:
				out.Settled, out.SettledAfter = true, time.Since(began)
				return out
			case !out.Tripped && p.Received >= routes:
				out.AllIn, out.AllInAfter = true, time.Since(began)
				return out
			}
		}
	}
	return out
}

// procStatusKiB reads a "VmRSS"-style field of /proc/self/status in KiB.
func procStatusKiB(t testing.TB, field string) uint64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kib, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("/proc/self/status %s: %v", field, err)
			}
			return kib
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}

// cpuTime is the user+system CPU this process has used.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveHeapMiB is the heap in use after a collection, returned to the OS.
func liveHeapMiB() float64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// floodCase is one measured flood: Routes sent to an upstream session with
// prefix limit Limit (0 = none), taken (Accept) or refused by the import
// policy.
type floodCase struct {
	Routes, Limit    int
	Distinct, Accept bool
}

func (c floodCase) String() string {
	packing := "packed"
	if c.Distinct {
		packing = "one-per-update"
	}
	policy := "rejected"
	if c.Accept {
		policy = "accepted"
	}
	return fmt.Sprintf("routes=%d,limit=%d,%s,%s", c.Routes, c.Limit, packing, policy)
}

// floodTimeout bounds one flood: a limit GoBGP v3.37.0 checks slowly may
// not be reached in it, and the figures then say so (tripped 0, all-in 0).
const floodTimeout = 150 * time.Second

// BenchmarkUpstreamFlood measures what a flood of routes from an upstream
// router costs the node's speaker, each case once in a process of its own:
// seconds until the prefix limit trips (or every route is in), CPU seconds,
// the RSS peak, and the live heap with the routes in and after. Run with
//
//	go test ./pkg/bgp -run '^$' -bench UpstreamFlood -benchtime 1x -timeout 60m
//
// (needs root: a private network namespace per case). NODEBGP_FLOOD_CASES
// (case names as printed, separated by spaces) runs only those cases;
// NODEBGP_FLOOD_HEAP_PROFILE writes a heap profile at each case's end.
func BenchmarkUpstreamFlood(b *testing.B) {
	var cases []floodCase
	for _, limit := range []int{5000, 10000, 20000, 50000, 100000} {
		cases = append(cases, floodCase{Routes: 200000, Limit: limit, Distinct: true, Accept: true})
	}
	cases = append(cases,
		floodCase{Routes: 200000, Limit: 5000, Distinct: true},
		floodCase{Routes: 200000, Limit: 5000, Accept: true},
		floodCase{Routes: 200000, Limit: 10000, Accept: true},
		floodCase{Routes: 200000, Limit: 100000, Accept: true},
		floodCase{Routes: 200000, Distinct: true, Accept: true},
		floodCase{Routes: 200000, Distinct: true},
		floodCase{Routes: 50000, Limit: 100000, Distinct: true, Accept: true},
		floodCase{Routes: 50000, Distinct: true, Accept: true},
		floodCase{Routes: 100000, Limit: 200000, Distinct: true, Accept: true},
	)
	for _, c := range cases {
		if f := strings.Fields(os.Getenv("NODEBGP_FLOOD_CASES")); len(f) > 0 && !slices.Contains(f, c.String()) {
			continue
		}
		b.Run(c.String(), func(b *testing.B) {
			if !inPrivateNetnsFor(b, floodTimeout+time.Minute) {
				return
			}
			for range b.N {
				measureFlood(b, c)
			}
		})
	}
}

func measureFlood(b *testing.B, c floodCase) {
	n := startNode(b, "node", testASN, netip.MustParseAddr("127.0.0.1"), 0, "10.255.0.1", true)
	n.setPolicy(b, Policy{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, AcceptUpstreamRoutes: c.Accept})
	tor := Peer{Name: "tor", Address: netip.MustParseAddr("127.0.0.2"), ASN: 65000, Passive: true, Kind: PeerUpstream, MaxPrefixes: uint32(c.Limit)}
	n.setPeers(b, tor)
	r := startFloodingRouter(b, n, tor, c.Routes, c.Distinct)
	r.await(b, "established", time.Minute)
	heapBefore := liveHeapMiB()
	cpuBefore := cpuTime(b)
	began := time.Now()
	b.ResetTimer()
	out := awaitFlood(b, n, r, c.Routes, began, floodTimeout)
	b.StopTimer()
	cpu := cpuTime(b) - cpuBefore
	rssAtEnd := procStatusKiB(b, "VmRSS")
	heapAtEnd := liveHeapMiB()
	writeHeapProfile(b, os.Getenv("NODEBGP_FLOOD_HEAP_PROFILE"))
	peak := procStatusKiB(b, "VmHWM") >> 10
	b.Logf("%s: %+v; CPU %.1f s, RSS at the end %d MiB, peak %d MiB, live heap %.1f MiB before, %.1f MiB at the end",
		c, out, cpu.Seconds(), rssAtEnd>>10, peak, heapBefore, heapAtEnd)
	b.ReportMetric(boolMetric(out.Tripped), "tripped")
	b.ReportMetric(out.TrippedAfter.Seconds(), "s-to-trip")
	b.ReportMetric(out.SettledAfter.Seconds(), "s-to-settle")
	b.ReportMetric(boolMetric(out.AllIn), "all-in")
	b.ReportMetric(out.AllInAfter.Seconds(), "s-to-all-in")
	b.ReportMetric(float64(out.MaxReceived), "max-routes-in")
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(peak), "peak-RSS-MiB")
	b.ReportMetric(float64(rssAtEnd>>10), "end-RSS-MiB")
	b.ReportMetric(heapAtEnd-heapBefore, "end-heap-growth-MiB")
}

func boolMetric(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// writeHeapProfile writes the heap profile to path, if one is given, to see
// what holds the memory a flood left behind.
func writeHeapProfile(t testing.TB, path string) {
	t.Helper()
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
