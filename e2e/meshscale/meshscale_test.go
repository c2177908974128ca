//go:build e2e

package meshscale

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

var (
	sizes  = flag.String("meshscale.peers", "100,250,500", "full-mesh sizes to run: the number of other nodes, comma-separated, ascending")
	window = flag.Duration("meshscale.window", 60*time.Second, "steady-state window over which CPU and node passes are measured")
	keep   = flag.String("meshscale.logs", "", "copy the agents' and peers' logs into this dir before teardown; \"\" keeps none")
)

// The benchmark's own names and addresses: none in the lab's lab-* space,
// so it runs beside a lab without its lock.
const (
	dir        = "/tmp/nodebgp-meshscale"
	agentNetns = "msc-agent"
	peersNetns = "msc-peers"
	apiHostIf  = "msc-api0" // root namespace end of the API link
	apiPort    = 6743
	etcdClient = 24790
	etcdPeer   = 24800
	healthPort = 9779
	agentName  = "msc-agent"
	// convergeBound bounds the wait for every session and route.
	convergeBound = 5 * time.Minute
	pollEvery     = 100 * time.Millisecond
)

var (
	apiHostAddr  = netip.MustParseAddr("10.251.0.1") // kube-apiserver binds here
	apiAgentAddr = netip.MustParseAddr("10.251.0.2") // the agent's end; /metrics too
	agentAddr    = netip.MustParseAddr("10.252.0.1") // the agent's node address
	firstPeer    = netip.MustParseAddr("10.252.1.1")
	podCIDRs     = netip.MustParsePrefix("10.64.0.0/14") // the agent has the first /24
)

// Result is one mesh size's figures.
type Result struct {
	Peers                   int
	Established, AllRoutes  time.Duration // from the agent's start
	RSSMiB, HWMMiB          float64       // agent, at the end of the window
	CPUPercent              float64       // agent, % of one core over the window
	PeersCPUPercent         float64       // the meshpeers process, same window
	MeanPassMs              float64       // node passes in the window
	Passes                  int
	FirstPassesMs           float64 // mean of the passes until convergence
	FirstPasses             int
	ConvergedEstablishedAll bool
}

// BenchmarkMeshCeiling runs one agent in full mesh with N GoBGP peers for
// each N of -meshscale.peers, on one control plane, and prints a table. The
// figures are reported, not asserted. One iteration is the whole run:
//
//	go test -tags e2e -run '^$' -bench MeshCeiling -benchtime 1x ./e2e/meshscale/
func BenchmarkMeshCeiling(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces)")
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1000 {
			b.Fatalf("-meshscale.peers: %q is not a number of peers in 1..1000", s)
		}
		ns = append(ns, n)
	}
	fmt.Printf("# nodebgp bench-mesh: %s\n", lab.Machine())
	results, err := run(ns)
	fmt.Printf("# done: %s\n", lab.Machine())
	fmt.Println("| peers | start → all Established s | start → all routes in the kernel s | RSS MiB (peak) | agent CPU % of a core, steady | node pass ms, steady (passes) | node pass ms until converged (passes) | peers' process CPU % |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Printf("| %d | %.2f | %.2f | %.0f (%.0f) | %.2f | %.1f (%d) | %.1f (%d) | %.2f |\n", r.Peers,
			r.Established.Seconds(), r.AllRoutes.Seconds(), r.RSSMiB, r.HWMMiB, r.CPUPercent,
			r.MeanPassMs, r.Passes, r.FirstPassesMs, r.FirstPasses, r.PeersCPUPercent)
	}
	if err != nil {
		b.Fatal(err)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05.000")+" "+format+"\n", args...)
}

func run(sizes []int) (results []Result, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	teardown(ctx) // an earlier crashed run's leftovers
	defer func() {
		if *keep != "" {
			if cerr := exec.Command("cp", "-a", filepath.Join(dir, "logs")+"/.", *keep).Run(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("keeping the logs: %w", cerr))
			}
		}
		err = errors.Join(err, teardown(context.Background()))
	}()
	root, err := lab.RepoRoot()
	if err != nil {
		return nil, err
	}
	tools, err := lab.FindTools(root)
	if err != nil {
		return nil, err
	}
	peersBin := filepath.Join(root, "_output", "bin", "meshpeers")
	if _, err := os.Stat(peersBin); err != nil {
		return nil, fmt.Errorf("%s: %w (built by `make build`)", peersBin, err)
	}
	if err := portsFree(apiPort, etcdClient, etcdPeer); err != nil {
		return nil, err
	}
	if err := network(ctx, sizes[len(sizes)-1]); err != nil {
		return nil, err
	}
	logf("control plane on %s:%d", apiHostAddr, apiPort)
	cp, err := lab.StartControlPlane(ctx, lab.ControlPlaneParams{
		Dir: dir, Tools: tools, Address: apiHostAddr, Port: apiPort, EtcdClientPort: etcdClient, EtcdPeerPort: etcdPeer,
	})
	if err != nil {
		return nil, err
	}
	if err := cp.EnsureNode(ctx, &lab.Node{Name: agentName, IP: agentAddr, PodCIDR: PodCIDR(podCIDRs, 0)}, nil); err != nil {
		return nil, err
	}
	created := 0
	for _, n := range sizes {
		logf("%d peers: Node objects", n)
		for ; created < n; created++ {
			node := &lab.Node{Name: fmt.Sprintf("msc-peer-%04d", created+1), IP: peerAddr(created), PodCIDR: PodCIDR(podCIDRs, created+1)}
			if err := cp.EnsureNode(ctx, node, nil); err != nil {
				return results, err
			}
		}
		r, err := measure(ctx, tools.Router, peersBin, cp.AdminKubeconfig, n)
		results = append(results, r)
		if err != nil {
			return results, fmt.Errorf("%d peers: %w", n, err)
		}
	}
	return results, nil
}

// portsFree refuses to start beside anything on the control plane's ports:
// an API server of someone else's that found our etcd would write its
// objects into it, and ours would read theirs.
func portsFree(ports ...int) error {
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return fmt.Errorf("port %d is in use (another control plane?): %w", p, err)
		}
		l.Close()
	}
	return nil
}

func peerAddr(i int) netip.Addr {
	a := firstPeer
	for ; i > 0; i-- {
		a = a.Next()
	}
	return a
}

// network: the agent's namespace with a link to the root namespace (the
// API server) and a link to the peers' namespace, which holds maxPeers
// addresses on one interface.
func network(ctx context.Context, maxPeers int) error {
	cmds := [][]string{
		{"ip", "netns", "add", agentNetns},
		{"ip", "netns", "add", peersNetns},
		{"ip", "link", "add", apiHostIf, "type", "veth", "peer", "name", "api0", "netns", agentNetns},
		{"ip", "addr", "add", apiHostAddr.String() + "/30", "dev", apiHostIf},
		{"ip", "link", "set", apiHostIf, "up"},
		{"ip", "-n", agentNetns, "addr", "add", apiAgentAddr.String() + "/30", "dev", "api0"},
		{"ip", "-n", agentNetns, "link", "set", "api0", "up"},
		{"ip", "-n", agentNetns, "link", "set", "lo", "up"},
		{"ip", "-n", agentNetns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peersNetns},
		{"ip", "-n", agentNetns, "addr", "add", agentAddr.String() + "/16", "dev", "eth0"},
		{"ip", "-n", agentNetns, "link", "set", "eth0", "up"},
		{"ip", "-n", peersNetns, "link", "set", "lo", "up"},
		{"ip", "-n", peersNetns, "link", "set", "eth0", "up"},
	}
	for _, c := range cmds {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, out)
		}
	}
	var batch strings.Builder
	for i := 0; i < maxPeers; i++ {
		fmt.Fprintf(&batch, "addr add %s/16 dev eth0\n", peerAddr(i))
	}
	c := exec.CommandContext(ctx, "ip", "-n", peersNetns, "-batch", "-")
	c.Stdin = strings.NewReader(batch.String())
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("adding %d peer addresses: %w: %s", maxPeers, err, out)
	}
	return nil
}

// teardown removes everything the benchmark made, by pid file and by its
// own names; it keeps going past errors.
func teardown(ctx context.Context) error {
	errs := []error{
		lab.StopByName(dir, "router", 15*time.Second),
		lab.StopByName(dir, "meshpeers", 15*time.Second),
		lab.StopControlPlane(dir),
	}
	for _, ns := range []string{agentNetns, peersNetns} {
		if err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Run(); err == nil {
			if out, err := exec.CommandContext(ctx, "ip", "netns", "del", ns).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("deleting netns %s: %w: %s", ns, err, out))
			}
		}
	}
	// The API link's root end goes with the agent's namespace; a leftover
	// of a half-made network may not.
	_ = exec.CommandContext(ctx, "ip", "link", "del", apiHostIf).Run()
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// measure starts the peers and then the agent fresh, times convergence and
// measures the steady state; both are stopped before it returns.
func measure(ctx context.Context, router, peersBin, kubeconfig string, n int) (r Result, err error) {
	r.Peers = n
	peers, err := lab.StartProcess(lab.ProcessParams{Name: "meshpeers", Dir: dir, Netns: peersNetns, Args: []string{
		peersBin, "-n", strconv.Itoa(n), "-first", firstPeer.String(), "-pod-cidrs", podCIDRs.String(), "-agent", agentAddr.String(),
	}})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, peers.Stop(15*time.Second)) }()
	if err := waitLog(ctx, lab.LogPath(dir, "meshpeers"), fmt.Sprintf("ready n=%d", n), time.Minute); err != nil {
		return r, err
	}
	// Each size starts as a new node would: no conflist from the size
	// before, so the agent waits for its sessions before it announces (an
	// agent that finds its conflist takes it as a restart and does not).
	confDir := filepath.Join(dir, "cni")
	if err := os.RemoveAll(confDir); err != nil {
		return r, err
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return r, err
	}
	// Nor the routes of the size before: an agent that finds routes of its
	// own in the kernel takes that as a restart too, and does not make its
	// first connection attempts at once (a fresh start, docs/peering.md).
	// The flush fails when there is nothing to flush; the count says.
	_ = exec.CommandContext(ctx, "ip", "-n", agentNetns, "-4", "route", "flush", "proto", "78").Run()
	if left := kernelRoutes(ctx); left != 0 {
		return r, fmt.Errorf("%d routes of the size before are left in %s", left, agentNetns)
	}
	start := time.Now()
	agent, err := lab.StartProcess(lab.ProcessParams{Name: "router", Dir: dir, Netns: agentNetns, Args: []string{
		router, "run",
		"--kubeconfig", kubeconfig,
		"--hostname-override", agentName,
		"--cni-conf-dir", confDir,
		"--cni-bridge", "mscbr0",
		"--ipam-data-dir", filepath.Join(dir, "ipam"),
		"--cluster-cidr", podCIDRs.String(),
		"--health-addr", fmt.Sprintf("%s:%d", apiAgentAddr, healthPort),
		"--gobgp-api-address", "127.0.0.1:50051",
		"--log-format", "json",
	}})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, agent.Stop(30*time.Second)) }()
	metricsURL := fmt.Sprintf("http://%s:%d/metrics", apiAgentAddr, healthPort)
	deadline := start.Add(convergeBound)
	var last Scrape
	for r.AllRoutes == 0 || r.Established == 0 {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not converged after %s: %d of %d established, %d routes in the kernel", convergeBound, last.Established, n, last.KernelRoutes)
		}
		if !agent.Alive() {
			return r, fmt.Errorf("the agent exited (log %s)", lab.LogPath(dir, "router"))
		}
		if s, err := scrape(ctx, metricsURL); err == nil {
			last = s
		}
		if r.Established == 0 && last.Established >= n {
			r.Established = time.Since(start)
		}
		if r.AllRoutes == 0 && kernelRoutes(ctx) >= n {
			r.AllRoutes = time.Since(start)
		}
		time.Sleep(pollEvery)
	}
	r.FirstPassesMs, r.FirstPasses = MeanPass(Scrape{}, last)
	r.FirstPassesMs *= 1000
	logf("%d peers: established %s, routes %s", n, r.Established.Round(time.Millisecond), r.AllRoutes.Round(time.Millisecond))

	// Steady state: keepalives, the periodic passes and route syncs.
	time.Sleep(10 * time.Second)
	before, err := scrape(ctx, metricsURL)
	if err != nil {
		return r, err
	}
	cpu0, err := cpuSeconds(agent.PID)
	if err != nil {
		return r, err
	}
	pcpu0, err := cpuSeconds(peers.PID)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	time.Sleep(*window)
	cpu1, err := cpuSeconds(agent.PID)
	if err != nil {
		return r, err
	}
	pcpu1, err := cpuSeconds(peers.PID)
	if err != nil {
		return r, err
	}
	el := time.Since(t0).Seconds()
	after, err := scrape(ctx, metricsURL)
	if err != nil {
		return r, err
	}
	r.CPUPercent = 100 * (cpu1 - cpu0) / el
	r.PeersCPUPercent = 100 * (pcpu1 - pcpu0) / el
	r.MeanPassMs, r.Passes = MeanPass(before, after)
	r.MeanPassMs *= 1000
	r.RSSMiB, r.HWMMiB, err = memory(agent.PID)
	if after.Established < n {
		return r, fmt.Errorf("only %d of %d sessions established at the end of the window", after.Established, n)
	}
	logf("%d peers: RSS %.0f MiB, CPU %.2f%%, pass %.1f ms", n, r.RSSMiB, r.CPUPercent, r.MeanPassMs)
	return r, err
}

func scrape(ctx context.Context, url string) (Scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Scrape{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Scrape{}, err
	}
	defer resp.Body.Close()
	return ParseMetrics(resp.Body)
}

// kernelRoutes counts the agent's routes (protocol 78) in its namespace.
func kernelRoutes(ctx context.Context) int {
	out, err := exec.CommandContext(ctx, "ip", "-n", agentNetns, "-4", "route", "show", "proto", "78").Output()
	if err != nil {
		return 0
	}
	return strings.Count(string(out), "\n")
}

// cpuSeconds is pid's user + system CPU time (/proc/<pid>/stat).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// memory is pid's VmRSS and VmHWM in MiB.
func memory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// waitLog waits until path holds want, at most bound.
func waitLog(ctx context.Context, path, want string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: no %q after %s", path, want, bound)
}
