//go:build e2e

package status

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/status"
)

const (
	simNodes = 100
	// simChurn and simIdle are the phases' lengths.
	simChurn = 30 * time.Second
	simIdle  = 30 * time.Second
)

// TestStatusWriteRate runs 100 status writers in this process against the
// lab's API server, with the agents' own token (so RBAC is the manifests'),
// each with a watch of its object as the agent has: a 100-node full mesh
// whose every node reports 99 sessions, each with its BFD state. Phase 1
// changes every node's state every second (a worst case: routes churning
// and a BFD session flapping on all nodes at once); phase 2
// keeps handing the writers the same state every second (an idle cluster).
// It measures the writes, the bytes and the API latency, and fails when the
// writers write more than once per interval, or at all when idle.
func TestStatusWriteRate(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 10*time.Minute)
	agentClient, err := dynamicFor(l.Agents.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube := status.Kube{Client: agentClient}

	var writes, failures atomic.Int64
	var latMu sync.Mutex
	var latencies []time.Duration
	timed := timedApplier{next: kube, observe: func(d time.Duration) { latMu.Lock(); latencies = append(latencies, d); latMu.Unlock() }}
	names := make([]string, simNodes)
	writers := make([]*status.Writer, simNodes)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range simNodes {
		names[i] = fmt.Sprintf("sim-node-%03d", i+1)
		writers[i] = status.NewWriter(status.WriterParams{
			Applier: timed,
			Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", names[i]),
			OnWrite: func() { writes.Add(1) },
			OnError: func(string) { failures.Add(1) },
		})
		wg.Add(2)
		go func() { defer wg.Done(); _ = writers[i].Run(runCtx) }()
		go func() {
			defer wg.Done()
			_ = kube.Watch(runCtx, names[i], writers[i].Observe, func(err error) { t.Logf("%s: %v", names[i], err) })
		}()
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range names {
			_ = admin.Resource(status.GVR).Delete(cctx, n, metav1.DeleteOptions{})
		}
	})

	update := func(tick int) {
		for i, w := range writers {
			w.Update(status.Build(simInputs(names[i], i, tick)))
		}
	}
	// Start: every node writes its object once.
	update(0)
	e2eutil.Eventually(t, time.Minute, 250*time.Millisecond, "every simulated node's first write", func() error {
		if n := writes.Load(); n < simNodes {
			return fmt.Errorf("%d of %d written", n, simNodes)
		}
		return nil
	})
	size := objectSize(simInputs(names[0], 0, 0))

	last := 0 // the tick every node's state is at
	phase := func(name string, length time.Duration, change bool) int64 {
		w0, f0 := writes.Load(), failures.Load()
		began := time.Now()
		for time.Since(began) < length {
			if change {
				last++
			}
			update(last)
			time.Sleep(time.Second)
		}
		n := writes.Load() - w0
		rate := float64(n) / length.Seconds()
		t.Logf("%s: %d writes in %s: %.1f writes/s for %d nodes, %.2f per node per s, ~%.0f KiB/s of objects; %d failed",
			name, n, length, rate, simNodes, rate/simNodes, rate*float64(size)/1024, failures.Load()-f0)
		return n
	}
	churn := phase("churn (every node changes every second)", simChurn, true)
	// The writes of the churn's last state, coalesced, land within an
	// interval or a backoff: only then does idle mean idle.
	e2eutil.Eventually(t, time.Minute, time.Second, "every simulated node's last state written", func() error {
		for i, n := range names {
			o, _, err := getState(ctx, admin, n)
			if err != nil || o == nil {
				return fmt.Errorf("%s: %v", n, err)
			}
			if want := simInputs(n, i, last).KernelRoutes; o.Status.KernelRoutes != want {
				return fmt.Errorf("%s: kernelRoutes %d, want %d", n, o.Status.KernelRoutes, want)
			}
		}
		return nil
	})
	idle := phase("idle (the same state every second)", simIdle, false)

	// At most one write per node per interval (3 s), plus the last one of
	// each node after the phase.
	if max := int64(simNodes) * (int64(simChurn/(3*time.Second)) + 2); churn > max {
		t.Errorf("churn: %d writes, want at most %d (one per node per 3 s)", churn, max)
	}
	if churn < simNodes {
		t.Errorf("churn: %d writes, fewer than one per node: the changes did not reach the API", churn)
	}
	if idle != 0 {
		t.Errorf("idle: %d writes, want none", idle)
	}
	// Failed writes are measured, not failed on: on a busy machine the
	// API server times some out, and the writers back off, as they must.
	t.Logf("%d writes failed in all", failures.Load())
	latMu.Lock()
	defer latMu.Unlock()
	var total, worst time.Duration
	for _, d := range latencies {
		total += d
		worst = max(worst, d)
	}
	if len(latencies) > 0 {
		t.Logf("apply latency: mean %s, max %s over %d writes; object size %d bytes (99 sessions with BFD)",
			(total / time.Duration(len(latencies))).Round(time.Millisecond), worst.Round(time.Millisecond), len(latencies), size)
	}
}

type timedApplier struct {
	next    status.Applier
	observe func(time.Duration)
}

func (a timedApplier) Apply(ctx context.Context, o status.Object) error {
	began := time.Now()
	err := a.next.Apply(ctx, o)
	a.observe(time.Since(began))
	return err
}

// simInputs is node i of a 100-node mesh with BFD on every session at a
// tick: every tick changes its kernel route count, one session's received
// prefixes, and takes that session's BFD Down (the one of the tick before
// comes Up again): a BFD flap on every node every second.
func simInputs(name string, i, tick int) status.Inputs {
	in := status.Inputs{
		// An agent's object is owned by its Node (the writer writes none
		// without an owner). These nodes have no Node object; the lab runs
		// no garbage collector, so a made-up UID stands in.
		Node: name, NodeUID: "uid-" + name, ASN: 64512, RouterID: simIP(i), Role: "mesh", RoutesSynced: true,
		Advertised:   []bgp.Path{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24), NextHop: simIP(i)}},
		KernelRoutes: simNodes - 1 + tick%5,
	}
	since := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for j := range simNodes {
		if j == i {
			continue
		}
		p := bgp.Peer{Name: fmt.Sprintf("sim-node-%03d", j+1), Address: simIP(j), ASN: 64512, Kind: bgp.PeerNode, BFD: bfd.DefaultTimers}
		in.Peers = append(in.Peers, p)
		received := 1
		bs := bfd.Status{Peer: p.Address, State: bfd.Up, DetectTime: 900 * time.Millisecond}
		if j == tick%simNodes {
			received = 2
			if tick > 0 {
				bs = bfd.Status{Peer: p.Address, State: bfd.Down, Diag: bfd.DiagControlDetectExpired}
			}
		}
		in.BFD = append(in.BFD, bs)
		in.Sessions = append(in.Sessions, bgp.PeerStatus{Address: p.Address, State: bgp.StateEstablished, Received: received, Accepted: received, Advertised: 1, Since: since})
	}
	return in
}

func simIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 198, byte(i / 250), byte(1 + i%250)})
}

func objectSize(in status.Inputs) int {
	js, _ := json.Marshal(status.Build(in))
	return len(js)
}
