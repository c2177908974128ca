package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/e2e/lab"
)

const (
	apiPort        = 6543
	etcdClientPort = 23890
	etcdPeerPort   = 23900
	healthPort     = 9779
	amplifierPort  = 6544
	stopWait       = 30 * time.Second
	agentProcess   = "router"
)

// result is one agent's figures.
type result struct {
	name          string
	err           error
	startToRoutes time.Duration
	routes        int
	rssKiB        int     // VmRSS after settling
	hwmKiB        int     // VmHWM after settling: the start's peak
	heapInuse     float64 // bytes: go_memstats_heap_inuse_bytes after settling
	goSys         float64 // bytes: go_memstats_sys_bytes after settling
	quiet, churn  window
	churnSent     int
	churnErrors   int
	churnEvents   int64 // Node watch events the agent received in the churn window; -1 without the amplifier
	hwmEndKiB     int   // VmHWM at the end
	// VmRSS and RssFile sampled every second of the quiet window: one
	// sample moves by 10 MiB with where the GC cycle stands.
	quietRSS, quietFile rssSamples
}

// rssSamples are one /proc/<pid>/status field's values, in KiB.
type rssSamples []int

func (s rssSamples) median() float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Sorted(slices.Values(s))
	return float64(c[len(c)/2]) / 1024
}

func (s rssSamples) max() float64 {
	if len(s) == 0 {
		return 0
	}
	return float64(slices.Max(s)) / 1024
}

// window is what the agent spent over a stretch of time.
type window struct {
	seconds  float64
	cpu      float64 // CPU seconds (user + system)
	allocMiB float64 // bytes allocated (go_memstats_alloc_bytes_total), MiB
}

func (w window) cpuShare() float64 { return w.cpu / w.seconds }

type bench struct {
	o      options
	dir    string
	admin  kubernetes.Interface
	kubecf string     // the agents' kubeconfig
	amp    *amplifier // nil without -churn-copies
	nodeKB float64
	create time.Duration
	routes string // the reflectors' prefixes file
}

func runBench(ctx context.Context, o options, root string) ([]result, error) {
	b := &bench{o: o, dir: o.dir}
	cleanup := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return errors.Join(
			lab.StopByName(o.dir, agentProcess, stopWait),
			lab.StopControlPlane(o.dir),
			deleteNetwork(ctx),
		)
	}
	// Leftovers of a killed run first.
	if err := cleanup(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return nil, err
	}
	defer func() {
		if err := cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, "nodebench: cleanup:", err)
		}
	}()
	if err := addFabric(ctx); err != nil {
		return nil, err
	}
	for _, k := range reflectorNodes {
		if err := addHost(ctx, reflectorNetns(k), nodeIP(k)); err != nil {
			return nil, err
		}
	}
	tools, err := lab.FindTools(root)
	if err != nil {
		return nil, err
	}
	step("starting etcd and kube-apiserver at %s:%d", apiAddr.Addr(), apiPort)
	cp, err := lab.StartControlPlane(ctx, lab.ControlPlaneParams{
		Dir: o.dir, Tools: tools, Address: apiAddr.Addr(), Port: apiPort,
		EtcdClientPort: etcdClientPort, EtcdPeerPort: etcdPeerPort,
	})
	if err != nil {
		return nil, err
	}
	b.kubecf = cp.AdminKubeconfig
	if b.admin, err = fastClient(cp.AdminKubeconfig); err != nil {
		return nil, err
	}
	if o.churnCopies > 0 {
		addr := fmt.Sprintf("%s:%d", apiAddr.Addr(), amplifierPort)
		step("Node watch amplifier at %s: %d copies after each real MODIFIED event in the churn window", addr, o.churnCopies)
		if b.amp, err = startAmplifier(addr, cp.URL, filepath.Join(cp.Dir, "controlplane", "pki", "apiserver")); err != nil {
			return nil, err
		}
		defer func() {
			if err := b.amp.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "nodebench: stopping the amplifier:", err)
			}
		}()
		b.kubecf = filepath.Join(o.dir, "kubeconfig-amplified")
		if err := b.amp.kubeconfig(cp.AdminKubeconfig, b.kubecf); err != nil {
			return nil, err
		}
	}
	step("creating %d kubelet-sized Nodes (%d in flight)", o.nodes, o.workers)
	began := time.Now()
	if err := createNodes(ctx, b.admin, o.nodes, o.workers); err != nil {
		return nil, err
	}
	b.create = time.Since(began)
	if b.nodeKB, err = nodeJSONKiB(ctx, b.admin, nodeName(o.nodes)); err != nil {
		return nil, err
	}
	step("created in %.1f s; one Node is %.1f KiB as JSON (with managedFields)", b.create.Seconds(), b.nodeKB)
	b.routes = filepath.Join(o.dir, "routes")
	if err := writeRoutes(b.routes, o.nodes); err != nil {
		return nil, err
	}
	var res []result
	for _, a := range o.agents {
		r := b.measure(ctx, a)
		res = append(res, r)
		if r.err != nil {
			return res, r.err
		}
	}
	return res, nil
}

func step(format string, args ...any) {
	fmt.Printf("# %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// fastClient is an admin client that the client-side rate limiter does not
// hold back: the churn is the point.
func fastClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 1e6, 1e6
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", kubeconfig, err)
	}
	return cs, nil
}

// nodeJSONKiB is the size of a Node as `kubectl get -o json` shows it.
func nodeJSONKiB(ctx context.Context, cs kubernetes.Interface, name string) (float64, error) {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("reading Node %s: %w", name, err)
	}
	data, err := json.Marshal(n)
	if err != nil {
		return 0, fmt.Errorf("encoding Node %s: %w", name, err)
	}
	return float64(len(data)) / 1024, nil
}

// agentFlags are the agent's flags beyond the fixed ones.
func (b *bench) agentFlags() []string {
	flags := b.o.agentArgs
	if b.o.profile != "" {
		flags = append(flags, "--profiling")
	}
	return flags
}

// agentEnv is agent a's environment beyond the benchmark's own.
func (b *bench) agentEnv(a agentBinary) []string {
	var env []string
	if b.o.goMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+b.o.goMemLimit)
	}
	return append(env, a.env...)
}

// measure runs agent a on a fresh namespace for the agent's node and takes
// its figures; the agent and its namespace are gone when it returns.
func (b *bench) measure(ctx context.Context, a agentBinary) (r result) {
	r.name = a.name
	fail := func(err error) result {
		r.err = fmt.Errorf("agent %s: %w (log %s)", a.name, err, lab.LogPath(b.dir, agentProcess))
		return r
	}
	if err := addHost(ctx, agentNetns, nodeIP(agentNode)); err != nil {
		return fail(err)
	}
	// Fresh reflectors for every agent: a GoBGP peer whose session just
	// failed (the previous agent stopping) waits out an idle hold before it
	// dials again, which the next agent's start → routes would include.
	var reflectors []*reflector
	defer func() {
		for _, rr := range reflectors {
			if err := rr.stop(); err != nil && r.err == nil {
				r.err = err
			}
		}
	}()
	for _, k := range reflectorNodes {
		rr, err := startReflector(b.o.bgpinject, b.dir, b.routes, k)
		if err != nil {
			return fail(err)
		}
		reflectors = append(reflectors, rr)
	}
	step("agent %s: reflectors %s and %s announce %d routes each", a.name, nodeName(reflectorNodes[0]), nodeName(reflectorNodes[1]), b.o.nodes-1)
	defer func() {
		if err := errors.Join(lab.StopByName(b.dir, agentProcess, stopWait), deleteHost(context.Background(), agentNetns)); err != nil && r.err == nil {
			r.err = err
		}
	}()
	adir := filepath.Join(b.dir, "agent-"+a.name)
	health := fmt.Sprintf("%s:%d", nodeIP(agentNode), healthPort)
	step("agent %s: starting %s", a.name, a.path)
	t0 := time.Now()
	p, err := lab.StartProcess(lab.ProcessParams{
		Name: agentProcess, Dir: b.dir, Netns: agentNetns, Env: b.agentEnv(a),
		Args: append([]string{a.path, "run",
			"--kubeconfig", b.kubecf,
			"--hostname-override", nodeName(agentNode),
			"--cni-conf-dir", filepath.Join(adir, "net.d"),
			"--cni-bridge", "nsc0",
			"--ipam-data-dir", filepath.Join(adir, "ipam"),
			"--cluster-cidr", clusterCIDR.String(),
			"--routes-sync-period", b.o.syncPeriod.String(),
			"--health-addr", health,
			"--gobgp-api-address", "127.0.0.1:50051",
			"--bgp-port", "179",
		}, b.agentFlags()...),
	})
	if err != nil {
		return fail(err)
	}
	want := b.o.nodes - 1
	if r.startToRoutes, err = waitRoutes(ctx, p, want, t0, b.o.routeTimeout); err != nil {
		return fail(err)
	}
	r.routes = want
	step("agent %s: %d routes in the kernel %.2f s after start", a.name, want, r.startToRoutes.Seconds())
	if err := sleep(ctx, b.o.settle); err != nil {
		return fail(err)
	}
	if r.rssKiB, err = lab.ProcStatusKiB(p.PID, "VmRSS"); err != nil {
		return fail(err)
	}
	if r.hwmKiB, err = lab.ProcStatusKiB(p.PID, "VmHWM"); err != nil {
		return fail(err)
	}
	// What the Go runtime holds of that: the heap's spans in use, and all
	// it has from the OS (heap, stacks, its own structures; not the binary).
	if r.heapInuse, err = agentMetric(ctx, health, "go_memstats_heap_inuse_bytes"); err != nil {
		return fail(err)
	}
	if r.goSys, err = agentMetric(ctx, health, "go_memstats_sys_bytes"); err != nil {
		return fail(err)
	}
	step("agent %s: VmRSS %d KiB, VmHWM %d KiB; quiet for %s", a.name, r.rssKiB, r.hwmKiB, b.o.quiet)
	profile := func(what, file string, takes time.Duration) error {
		return saveProfile(ctx, b.o.profile, health, a.name, what, file, takes)
	}
	if err := profile("allocs?gc=1", "allocs-quiet-start.pprof", 0); err != nil {
		return fail(err)
	}
	if r.quiet, err = measureWindow(ctx, p.PID, health, func(ctx context.Context) error {
		for end := time.Now().Add(b.o.quiet); time.Now().Before(end); {
			rss, err := lab.ProcStatusKiB(p.PID, "VmRSS")
			if err != nil {
				return err
			}
			file, err := lab.ProcStatusKiB(p.PID, "RssFile")
			if err != nil {
				return err
			}
			r.quietRSS, r.quietFile = append(r.quietRSS, rss), append(r.quietFile, file)
			if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	if err := profile("allocs?gc=1", "allocs-quiet-end.pprof", 0); err != nil {
		return fail(err)
	}
	step("agent %s: churn at %d Node updates/s for %s", a.name, b.o.churnRate, b.o.churnFor)
	r.churn, err = measureWindow(ctx, p.PID, health, func(ctx context.Context) error {
		// A CPU profile of the churn's middle (a second in from each end):
		// where an update's CPU goes.
		cpu := make(chan error, 1)
		go func() {
			secs := int(b.o.churnFor/time.Second) - 2
			if secs < 1 {
				cpu <- nil
				return
			}
			if err := sleep(ctx, time.Second); err != nil {
				cpu <- err
				return
			}
			cpu <- profile(fmt.Sprintf("profile?seconds=%d", secs), "cpu-churn.pprof", time.Duration(secs)*time.Second)
		}()
		r.churnEvents = -1
		var events0 int64
		if b.amp != nil {
			events0 = b.amp.events.Load()
			b.amp.copies.Store(int32(b.o.churnCopies))
		}
		r.churnSent, r.churnErrors = churn(ctx, b.admin, b.o.nodes, b.o.churnRate, b.o.workers, b.o.churnFor)
		if b.amp != nil {
			b.amp.copies.Store(0)
			r.churnEvents = b.amp.events.Load() - events0
		}
		return errors.Join(ctx.Err(), <-cpu)
	})
	if err := errors.Join(err, profile("allocs?gc=1", "allocs-churn-end.pprof", 0)); err != nil {
		return fail(err)
	}
	if r.hwmEndKiB, err = lab.ProcStatusKiB(p.PID, "VmHWM"); err != nil {
		return fail(err)
	}
	if n, err := countRoutes(ctx); err != nil || n != want {
		return fail(fmt.Errorf("after the churn: %d routes, want %d (%v)", n, want, err))
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitRoutes polls the agent's kernel every 50 ms until it holds want routes.
func waitRoutes(ctx context.Context, p *lab.Process, want int, t0 time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := t0.Add(timeout)
	for {
		n, err := countRoutes(ctx)
		if err != nil {
			return 0, err
		}
		if n == want {
			return time.Since(t0), nil
		}
		if !p.Alive() {
			return 0, fmt.Errorf("the agent ended with %d of %d routes", n, want)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d routes after %s", n, want, timeout)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// measureWindow runs do and returns the agent's CPU time and allocations
// over it.
func measureWindow(ctx context.Context, pid int, health string, do func(context.Context) error) (window, error) {
	cpu0, err := lab.ProcCPUSeconds(pid)
	if err != nil {
		return window{}, err
	}
	alloc0, err := allocBytes(ctx, health)
	if err != nil {
		return window{}, err
	}
	t0 := time.Now()
	if err := do(ctx); err != nil {
		return window{}, err
	}
	secs := time.Since(t0).Seconds()
	cpu1, err := lab.ProcCPUSeconds(pid)
	if err != nil {
		return window{}, err
	}
	alloc1, err := allocBytes(ctx, health)
	if err != nil {
		return window{}, err
	}
	return window{seconds: secs, cpu: cpu1 - cpu0, allocMiB: (alloc1 - alloc0) / (1 << 20)}, nil
}

// allocBytes reads go_memstats_alloc_bytes_total, the bytes the agent has
// allocated since it started, from its /metrics.
func allocBytes(ctx context.Context, health string) (float64, error) {
	return agentMetric(ctx, health, "go_memstats_alloc_bytes_total")
}

// agentMetric reads one unlabelled metric from the agent's /metrics.
func agentMetric(ctx context.Context, health, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading the agent's metrics: %w", err)
	}
	defer resp.Body.Close()
	return metricValue(resp.Body, name)
}

// metricValue finds an unlabelled metric's value in Prometheus text.
func metricValue(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %q: %w", name, f[1], err)
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading metrics: %w", err)
	}
	return 0, fmt.Errorf("metric %s: not found", name)
}

// churn sends rate Node updates per second, spread over every Node, for d,
// with up to workers in flight; it returns how many were sent and failed.
// Updates the API server cannot take in time are not queued up: the figure
// to read is the rate achieved.
func churn(ctx context.Context, cs kubernetes.Interface, n, rate, workers int, d time.Duration) (sent, failed int) {
	const tick = 10 * time.Millisecond
	// Requests in flight at the end are let finish: the window ends when
	// they have.
	stop := time.After(d)
	work := make(chan int, workers)
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				if err := patchNode(ctx, cs, 1+seq%n, seq/n); err != nil {
					if ctx.Err() == nil {
						bad.Add(1)
					}
					continue
				}
				ok.Add(1)
			}
		}()
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	began := time.Now()
	seq := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-stop:
			break loop
		case <-t.C:
			due := int(time.Since(began).Seconds() * float64(rate))
			for ; seq < due; seq++ {
				select {
				case work <- seq:
				default: // the workers are behind: drop, do not queue
				}
			}
		}
	}
	close(work)
	wg.Wait()
	return int(ok.Load()), int(bad.Load())
}

func printResults(w io.Writer, o options, res []result) {
	if len(res) == 0 {
		return
	}
	memLimit := "unset"
	if o.goMemLimit != "" {
		memLimit = o.goMemLimit
	}
	fmt.Fprintf(w, "\n%d Nodes, agent on %s (reflector client), --routes-sync-period %s, GOMEMLIMIT %s; quiet %s, churn %s at %d/s asked\n\n",
		o.nodes, nodeName(agentNode), o.syncPeriod, memLimit, o.quiet, o.churnFor, o.churnRate)
	fmt.Fprintln(w, "| agent | start → routes s | VmRSS MiB | VmHWM MiB | Go heap in use / from OS MiB | quiet: VmRSS median / max MiB | quiet: RssFile median MiB | quiet: CPU % | quiet: alloc MiB/s | churn: updates/s done | churn: Node events/s at the agent | churn: CPU % | churn: CPU ms per event, net of quiet | churn: alloc MiB/s | VmHWM end MiB |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range res {
		if r.err != nil {
			fmt.Fprintf(w, "| %s | error: %v |\n", r.name, r.err)
			continue
		}
		// Without the amplifier the agent sees one event per update done.
		events := float64(r.churnSent)
		if r.churnEvents >= 0 {
			events = float64(r.churnEvents)
		}
		perEvent := "—"
		if events > 0 {
			perEvent = fmt.Sprintf("%.3f", 1000*(r.churn.cpu-r.quiet.cpuShare()*r.churn.seconds)/events)
		}
		fmt.Fprintf(w, "| %s | %.2f | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f | %.1f | %.2f | %.0f (%d failed) | %.0f | %.1f | %s | %.1f | %.1f |\n",
			r.name, r.startToRoutes.Seconds(), float64(r.rssKiB)/1024, float64(r.hwmKiB)/1024, r.heapInuse/(1<<20), r.goSys/(1<<20),
			r.quietRSS.median(), r.quietRSS.max(), r.quietFile.median(),
			100*r.quiet.cpuShare(), r.quiet.allocMiB/r.quiet.seconds,
			float64(r.churnSent)/r.churn.seconds, r.churnErrors, events/r.churn.seconds, 100*r.churn.cpuShare(), perEvent,
			r.churn.allocMiB/r.churn.seconds, float64(r.hwmEndKiB)/1024)
	}
}
