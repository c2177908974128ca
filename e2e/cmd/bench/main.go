// Command bench times how fast the agent turns BGP routes into kernel routes,
// against `ip -batch` installing the same routes in a fresh namespace:
//
//	bench -routes 10000
//
// It brings up a one-node lab, adds a GoBGP peer (bgpinject) on the fabric as
// a Node of its own, has it announce N routes and times until all N are in
// the node's kernel (protocol 78), then withdraw them and times until all are
// gone. It prints one line per measure and the agent's peak RSS, and always
// tears down what it made. `make bench` runs it; docs/benchmarks.md has the
// figures.
//
//	bench -routes 100000 -packed
//
// has the injector pack as many prefixes into each UPDATE as fit, as a router
// sending its table does; without -packed, GoBGP sends one prefix per UPDATE.
//
//	bench -routes 100000 -churn 30m -churn-fraction 0.1 -churn-interval 10s
//
// replaces the measures with a churn (churn.go): the table installed, a
// rotating slice of it withdrawn and re-announced every interval, and the
// agent's memory, goroutines and CPU sampled; `make bench-churn` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/memlimit"
)

type options struct {
	routes   int
	dir      string
	injector string
	// packed has the injector pack as many prefixes into each UPDATE as fit,
	// as a router sending a table does, instead of GoBGP's one per UPDATE.
	packed  bool
	timeout time.Duration
	// profile, when set, runs the agent with --profiling and saves its
	// CPU profile (profileSeconds long, from the announce on) and heap
	// profiles there.
	profile        string
	profileSeconds int
	// goMemLimit, when set, is the agent's GOMEMLIMIT: what a container
	// memory limit makes the agent set (pkg/memlimit).
	goMemLimit string
	// goDebug, when set, is the agent's GODEBUG (gctrace=1 logs every
	// collection's heap sizes into the agent's log).
	goDebug string
	// goGC, when set, is the agent's GOGC.
	goGC string
	// anchors are the third-party speakers measured after the agent
	// (anchorNames), gobgpd the plain GoBGP daemon's binary, gobgpdPatched
	// the same built from third_party/gobgp.
	anchors       []string
	gobgpd        string
	gobgpdPatched string
	// memoryMax, when set, restarts the agent in a memory cgroup of its own
	// with this limit and GOMEMLIMIT at memlimit.Fraction of it: what a
	// DaemonSet's memory limit does to it.
	memoryMax int64
	// syncPeriod is the agent's --routes-sync-period.
	syncPeriod time.Duration
	// churn, when set, replaces the measures: after the whole table is
	// installed, churnFraction of it is withdrawn and re-announced every
	// churnInterval for this long while the agent is sampled.
	churn         time.Duration
	churnFraction float64
	churnInterval time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := mainErr(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context) error {
	var o options
	flag.IntVar(&o.routes, "routes", 10000, "number of routes to announce and withdraw")
	flag.StringVar(&o.dir, "dir", "/tmp/nodebgp-bench", "the benchmark lab's state dir")
	flag.StringVar(&o.injector, "injector", "", "the bgpinject binary (default: next to this one)")
	flag.BoolVar(&o.packed, "packed", false, "the injector packs as many prefixes into each UPDATE as fit (about 800 /32s), announcing and withdrawing, as a router sending a table does; without it GoBGP sends one prefix per UPDATE")
	flag.DurationVar(&o.timeout, "timeout", 120*time.Second, "bound on each measure")
	flag.StringVar(&o.profile, "profile", "", "save the agent's pprof profiles (CPU over both measures, heap with the routes installed and after the withdraw) in this dir")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 30, "length of the CPU profile")
	flag.StringVar(&o.goMemLimit, "agent-gomemlimit", "", "run the agent with this GOMEMLIMIT (e.g. 217MiB, what a 256Mi container limit gives)")
	flag.StringVar(&o.goGC, "agent-gogc", "", "run the agent with this GOGC (the garbage collector's heap growth between collections, percent)")
	flag.StringVar(&o.goDebug, "agent-godebug", "", "run the agent with this GODEBUG (e.g. gctrace=1; the lines go to its log, saved with -profile)")
	anchors := flag.String("anchors", strings.Join(anchorNames, ","), "third-party speakers to measure in the same run ("+strings.Join(anchorNames, ", ")+"), or none")
	flag.StringVar(&o.gobgpd, "gobgpd", "", "the plain gobgpd anchor's binary (default: $TOOLS_DIR/bin/gobgpd, built by make tools)")
	flag.StringVar(&o.gobgpdPatched, "gobgpd-patched", "", "the gobgpd-patched anchor's binary: GoBGP as the agent embeds it (default: next to this one, built by make build)")
	memoryMax := flag.String("agent-memory-max", "", "run the agent in a memory cgroup with this limit (e.g. 256Mi) and GOMEMLIMIT at 85% of it, as a container limit would")
	flag.DurationVar(&o.syncPeriod, "agent-sync-period", 30*time.Second, "the agent's --routes-sync-period (the product's default; the lab's own is 5s)")
	flag.DurationVar(&o.churn, "churn", 0, "instead of the measures, churn the installed table this long (e.g. 30m) and sample the agent's RSS, heap, goroutines and CPU every interval")
	flag.Float64Var(&o.churnFraction, "churn-fraction", 0.1, "with -churn: the share of the routes withdrawn and re-announced each interval, a slice rotating round the table")
	flag.DurationVar(&o.churnInterval, "churn-interval", 10*time.Second, "with -churn: one withdraw and re-announce of a slice every interval")
	flag.Parse()
	var err error
	if o.anchors, err = parseAnchors(*anchors); err != nil {
		return err
	}
	if *memoryMax != "" {
		if o.memoryMax, err = parseMiB(*memoryMax); err != nil {
			return fmt.Errorf("-agent-memory-max: %w", err)
		}
		if o.goMemLimit != "" {
			return fmt.Errorf("-agent-memory-max sets the agent's GOMEMLIMIT itself: drop -agent-gomemlimit")
		}
		// What pkg/memlimit would set from the limit in a container. Here it
		// cannot read it: `ip netns exec` remounts /sys, so the agent sees
		// no /sys/fs/cgroup.
		o.goMemLimit = strconv.FormatInt(int64(float64(o.memoryMax)*memlimit.Fraction), 10)
	}
	if o.gobgpd == "" && (slices.Contains(o.anchors, "gobgpd") || slices.Contains(o.anchors, "gobgpd-zebra")) {
		dir := os.Getenv("TOOLS_DIR")
		if dir == "" {
			root, err := lab.RepoRoot()
			if err != nil {
				return err
			}
			dir = filepath.Join(root, ".cache", "tools")
		}
		o.gobgpd = filepath.Join(dir, "bin", "gobgpd")
	}
	if o.gobgpd != "" {
		if _, err := os.Stat(o.gobgpd); err != nil {
			return fmt.Errorf("gobgpd: %w (built by `make tools`)", err)
		}
	}
	if o.gobgpdPatched == "" && slices.Contains(o.anchors, "gobgpd-patched") {
		if o.gobgpdPatched, err = besideThis("gobgpd-patched"); err != nil {
			return err
		}
	}
	if o.gobgpdPatched != "" {
		if _, err := os.Stat(o.gobgpdPatched); err != nil {
			return fmt.Errorf("gobgpd-patched: %w (built by `make build`)", err)
		}
	}
	if err := checkChurn(o); err != nil {
		return err
	}
	if o.injector == "" {
		if o.injector, err = besideThis("bgpinject"); err != nil {
			return err
		}
	}
	if _, err := os.Stat(o.injector); err != nil {
		return fmt.Errorf("bgpinject: %w (built by `make build`)", err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it creates network namespaces")
	}
	fmt.Println("# nodebgp bench: " + lab.Machine())
	if o.packed {
		fmt.Println("# injector: packed, as many prefixes in each UPDATE as fit (bgpinject -packed)")
	} else {
		fmt.Println("# injector: GoBGP, one prefix per UPDATE")
	}
	if o.churn > 0 {
		res, err := runChurn(ctx, o)
		if len(res.samples) > 1 {
			// A run cut short still summarizes what it sampled.
			err = errors.Join(err, res.print(os.Stdout))
		}
		return err
	}
	res, err := runBench(ctx, o)
	if err != nil {
		return err
	}
	res.print(os.Stdout)
	return nil
}

// besideThis is the path of a binary make build puts next to this one.
func besideThis(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", name, err)
	}
	return filepath.Join(filepath.Dir(exe), name), nil
}

// checkChurn refuses churn flags that cannot make a run: a slice of no
// routes, or too few cycles for a trend.
func checkChurn(o options) error {
	if o.churn < 0 {
		return fmt.Errorf("-churn %s: must not be negative", o.churn)
	}
	if o.churn == 0 {
		return nil
	}
	if _, err := churnSize(o.routes, o.churnFraction); err != nil {
		return err
	}
	if o.churnInterval <= 0 || o.churn < 3*o.churnInterval {
		return fmt.Errorf("-churn %s, -churn-interval %s: the churn must last 3 intervals or more", o.churn, o.churnInterval)
	}
	return nil
}
