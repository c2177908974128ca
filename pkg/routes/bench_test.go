package routes

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

const benchRoutes = 10_000

// benchDesired is 10,000 /24s out of 100.64.0.0/10, all via 10.250.0.2.
func benchDesired() []Route {
	gw := netip.MustParseAddr("10.250.0.2")
	desired := make([]Route, benchRoutes)
	for i := range desired {
		a := netip.AddrFrom4([4]byte{100, byte(64 + i>>8), byte(i), 0})
		desired[i] = Route{Prefix: netip.PrefixFrom(a, 24), Gateway: gw}
	}
	return desired
}

// BenchmarkSync10k installs 10,000 routes into an empty table and prunes
// them again, and puts the same 10,000 `route add` (and `route del`) lines
// through `ip -batch` into a fresh namespace: the reference for how fast the
// kernel can take them from one process.
func BenchmarkSync10k(b *testing.B) {
	desired := benchDesired()
	ns := newNS(b).WithNode(b)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: nsKernel(b, ns)})

	ref := newNS(b).WithNode(b)
	dir := b.TempDir()
	add, del := filepath.Join(dir, "add"), filepath.Join(dir, "del")
	writeBatch(b, add, "route add %s via %s proto 78\n", desired)
	writeBatch(b, del, "route del %s via %s proto 78\n", desired)

	var install, noop, prune, ipAdd, ipDel time.Duration
	for i := 0; i < b.N; i++ {
		install += timeSync(b, r, desired, SyncResult{Added: benchRoutes})
		noop += timeSync(b, r, desired, SyncResult{Unchanged: benchRoutes})
		prune += timeSync(b, r, nil, SyncResult{Deleted: benchRoutes})

		ipAdd += timeBatch(b, ref, add)
		if n := strings.Count(ref.IP(b, "route", "show", "proto", "78"), "\n"); n != benchRoutes {
			b.Fatalf("ip -batch installed %d routes, want %d", n, benchRoutes)
		}
		ipDel += timeBatch(b, ref, del)
	}
	perSecond := func(d time.Duration) float64 { return float64(benchRoutes*b.N) / d.Seconds() }
	b.ReportMetric(perSecond(install), "install-routes/s")
	b.ReportMetric(perSecond(prune), "prune-routes/s")
	b.ReportMetric(float64(noop.Milliseconds())/float64(b.N), "noop-sync-ms")
	b.ReportMetric(perSecond(ipAdd), "ip-batch-add-routes/s")
	b.ReportMetric(perSecond(ipDel), "ip-batch-del-routes/s")
}

func timeSync(b *testing.B, r *Reconciler, desired []Route, want SyncResult) time.Duration {
	b.Helper()
	began := time.Now()
	got, err := r.Sync(context.Background(), desired, true)
	took := time.Since(began)
	if err != nil {
		b.Fatalf("Sync: %v", err)
	}
	if got.Added != want.Added || got.Deleted != want.Deleted || got.Unchanged != want.Unchanged {
		b.Fatalf("Sync = %+v, want %+v", got, want)
	}
	return took
}

func timeBatch(b *testing.B, ns netnstest.NS, file string) time.Duration {
	b.Helper()
	began := time.Now()
	out, err := exec.Command("ip", "-n", ns.Name, "-batch", file).CombinedOutput()
	took := time.Since(began)
	if err != nil {
		b.Fatalf("ip -n %s -batch %s: %v\n%s", ns.Name, file, err, out)
	}
	return took
}

func writeBatch(b *testing.B, file, format string, routes []Route) {
	b.Helper()
	var sb strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&sb, format, r.Prefix, r.Gateway)
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}
