// Command nodebench measures the agent in a big cluster of kubelet-sized
// Nodes (issue 12):
//
//	nodebench -nodes 5000 -agents main=/tmp/router-main,branch=_output/bin/router
//
// It starts its own etcd and kube-apiserver (lab.StartControlPlane, on
// 10.210.0.1:6543 and etcd ports 23890/23900, state in -dir), creates n Nodes
// as kubelets fill them (nodes.go: 50 images, conditions, capacity, nodeInfo,
// labels, managed fields), two of them route reflectors, and runs one real
// `router run` for node 3, a reflector client, in a namespace of its own.
// The two reflectors are GoBGP speakers (bgpinject) that announce every other
// node's pod CIDR with that node's IP as next hop.
//
// For each agent binary in turn, on the same API server and Nodes, it
// measures: start → every other node's pod CIDR in the agent's kernel
// (informer list of every Node, first plan, two sessions, n-1 routes
// received and installed); VmRSS and VmHWM once steady; CPU and bytes
// allocated (go_memstats_alloc_bytes_total from /metrics) over a quiet
// window, which holds only periodic node passes; and the same while Node
// updates that change no routing fact (heartbeats, a foreign annotation) hit
// the API server at -churn-rate per second. With -churn-copies the agent
// talks to the API server through a proxy that follows each real Node
// update in its watch with copies of other recent ones (amplify.go): this
// machine's API server makes about 450 updates a second, not the 1,000 the
// agent is measured at. It prints a Markdown table.
//
// Its namespaces and links are nsc-*, its processes are stopped by PID, and
// it needs no lab lock: it shares nothing with the netns lab.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

type options struct {
	nodes        int
	dir          string
	agents       []agentBinary
	bgpinject    string
	syncPeriod   time.Duration
	settle       time.Duration
	quiet        time.Duration
	churnRate    int
	churnFor     time.Duration
	workers      int
	routeTimeout time.Duration
	profile      string
	agentArgs    []string
	goMemLimit   string
	churnCopies  int
}

// agentBinary is one agent to measure: a name for the table, its binary,
// and environment variables of its own (GOGC=50), on top of the bench's.
type agentBinary struct {
	name, path string
	env        []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodebench:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context) error {
	var o options
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	flag.IntVar(&o.nodes, "nodes", 5000, "Node objects in the cluster")
	flag.StringVar(&o.dir, "dir", "/tmp/nodebgp-nodescale", "state dir (control plane, logs); removed at the start")
	agents := flag.String("agents", "router="+filepath.Join(root, "_output", "bin", "router"), "the agent binaries to measure in turn, name=path,...; a path may be followed by +KEY=VALUE settings of that agent's environment (main=/tmp/router+GOGC=50)")
	flag.StringVar(&o.bgpinject, "bgpinject", "", "the bgpinject binary (default: next to this one)")
	flag.DurationVar(&o.syncPeriod, "agent-sync-period", 30*time.Second, "the agent's --routes-sync-period (the product's default)")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "wait after the routes are in before the steady measures")
	flag.DurationVar(&o.quiet, "quiet", 60*time.Second, "the quiet window: no Node changes")
	flag.IntVar(&o.churnRate, "churn-rate", 1000, "Node updates per second during the churn window")
	flag.DurationVar(&o.churnFor, "churn", 30*time.Second, "the churn window")
	flag.IntVar(&o.workers, "workers", 48, "API requests in flight when creating Nodes and churning")
	flag.DurationVar(&o.routeTimeout, "route-timeout", 180*time.Second, "bound on start → routes")
	flag.StringVar(&o.profile, "profile", "", "run the agents with --profiling and save their allocation profiles (at the start and end of the quiet window and at the end of the churn) and a CPU profile of the churn in this dir")
	agentArgs := flag.String("agent-args", "", "more flags for every agent's `router run`, space-separated (e.g. \"--log-level debug\")")
	flag.StringVar(&o.goMemLimit, "agent-gomemlimit", "", "run the agents with this GOMEMLIMIT (what pkg/memlimit sets from a container's memory limit, e.g. 54MiB for 64Mi)")
	flag.IntVar(&o.churnCopies, "churn-copies", 0, "run the agents through a Node watch amplifier that follows each real MODIFIED event of the churn with this many copies of other recent ones (amplify.go): more Node events a second than this machine's API server makes")
	flag.Parse()
	o.agentArgs = strings.Fields(*agentArgs)
	if o.agents, err = parseAgents(*agents); err != nil {
		return err
	}
	if o.churnCopies < 0 || o.churnCopies >= amplifierRecent {
		return fmt.Errorf("-churn-copies %d: between 0 and %d", o.churnCopies, amplifierRecent-1)
	}
	if o.nodes < 4 || o.nodes > maxNodes {
		return fmt.Errorf("-nodes %d: between 4 and %d", o.nodes, maxNodes)
	}
	if o.bgpinject == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding bgpinject: %w", err)
		}
		o.bgpinject = filepath.Join(filepath.Dir(exe), "bgpinject")
	}
	for _, p := range append([]string{o.bgpinject}, agentPaths(o.agents)...) {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (built by `make build`)", err)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it creates network namespaces")
	}
	fmt.Println("# nodebgp nodebench: " + lab.Machine())
	res, runErr := runBench(ctx, o, root)
	fmt.Println("# done: " + lab.Machine())
	printResults(os.Stdout, o, res)
	return runErr
}

// parseAgents reads -agents: name=path items, comma-separated, names
// unique, each path optionally followed by +KEY=VALUE settings of the
// agent's environment.
func parseAgents(s string) ([]agentBinary, error) {
	var out []agentBinary
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(item), "=")
		path, settings, _ := strings.Cut(spec, "+")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("-agents %q: item %q is not name=path", s, item)
		}
		var env []string
		if settings != "" {
			for _, kv := range strings.Split(settings, "+") {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					return nil, fmt.Errorf("-agents %q: %q in item %q is not KEY=VALUE", s, kv, item)
				}
				env = append(env, kv)
			}
		}
		if seen[name] {
			return nil, fmt.Errorf("-agents %q: name %q twice", s, name)
		}
		seen[name] = true
		// The agent runs in the state dir: a relative path would not resolve.
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("-agents: %s: %w", path, err)
		}
		out = append(out, agentBinary{name: name, path: abs, env: env})
	}
	return out, nil
}

func agentPaths(as []agentBinary) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.path)
	}
	return out
}
