package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/bgp"
)

const (
	// cleanupTimeout bounds the teardown, which runs on a fresh context so an
	// interrupt still cleans up.
	cleanupTimeout = 3 * time.Minute
	labUpTimeout   = 10 * time.Minute
	sessionTimeout = 60 * time.Second
	// settle lets the agent finish any pass still running before the next
	// measure starts; every speaker gets it between Established and the
	// announce too.
	settle = time.Second
)

// bench is one run: what it made, so cleanup removes exactly that.
type bench struct {
	o        options
	work     string // prefixes, batch files, the injector's log
	lab      *lab.Lab
	node     *lab.Node
	injector *injectorProc
	cgroup   *agentCgroup // with -agent-memory-max
	steps    int
	prefixes []netip.Prefix // the routes the injector announces
}

func (b *bench) step(format string, args ...any) {
	b.steps++
	fmt.Fprintf(os.Stderr, "==> [%d] "+format+"\n", append([]any{b.steps}, args...)...)
}

func runBench(ctx context.Context, o options) (res results, err error) {
	res.routes = o.routes
	err = withBench(ctx, o, func(b *bench) error {
		if err := b.measureAgent(ctx, &res); err != nil {
			return err
		}
		if err := b.measureReference(ctx, b.prefixes, &res); err != nil {
			return err
		}
		return b.measureAnchors(ctx, &res)
	})
	return res, err
}

func runChurn(ctx context.Context, o options) (res churnResult, err error) {
	err = withBench(ctx, o, func(b *bench) error {
		res, err = b.runChurn(ctx)
		return err
	})
	return res, err
}

// withBench brings up the lab and the injector, runs body, and always tears
// down what it made.
func withBench(ctx context.Context, o options, body func(*bench) error) (err error) {
	prefixes, err := benchPrefixes(o.routes)
	if err != nil {
		return err
	}
	b := &bench{o: o, prefixes: prefixes}
	if err := b.checkNoOtherLab(ctx); err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "nodebgp-bench-"); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer func() {
		if err != nil {
			b.printLogs()
		}
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		err = errors.Join(err, b.cleanup(cctx))
	}()
	if err := b.setUp(ctx, prefixes); err != nil {
		return err
	}
	return body(b)
}

// checkNoOtherLab refuses to start while someone else's lab runs: lab.Up
// would take it for leftovers and remove it. A lab in our own dir is ours,
// left by a run that crashed, and lab.Up replaces it.
func (b *bench) checkNoOtherLab(ctx context.Context) error {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return err
	}
	var others []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "lab-") {
			continue
		}
		if fields[0] != injectorNetns && fields[0] != referenceNetns && fields[0] != dutNetns {
			others = append(others, fields[0])
		}
	}
	if _, err := os.Stat(b.o.dir); len(others) > 0 && err != nil {
		return fmt.Errorf("another lab is running (%s): wait for it to end, or `make lab-down` if it is yours", strings.Join(others, ", "))
	}
	return nil
}

func (b *bench) setUp(ctx context.Context, prefixes []netip.Prefix) error {
	b.step("removing leftovers of an earlier run: %s, %s", injectorNetns, referenceNetns)
	if err := errors.Join(deleteNetns(ctx, injectorNetns), deleteNetns(ctx, referenceNetns), deleteNetns(ctx, dutNetns)); err != nil {
		return err
	}
	b.step("lab: 1 node in %s", b.o.dir)
	upCtx, cancel := context.WithTimeout(ctx, labUpTimeout)
	defer cancel()
	// The injector is an upstream router to the agent (eBGP, its own ASN),
	// whose routes outside the cluster's pod CIDR it accepts by configuration.
	l, err := lab.Up(upCtx, lab.Options{
		Dir:   b.o.dir,
		Nodes: 1,
		// The product's default, not the lab's 5 s: a full pass (the whole
		// RIB and kernel table read afresh) every 5 s would land in the
		// middle of every 100,000-route measure, which a node at the default
		// sees once in 30 s.
		RoutesSyncPeriod: b.o.syncPeriod,
		Logf:             func(format string, args ...any) { fmt.Fprintf(os.Stderr, "    "+format+"\n", args...) },
		AgentArgs: func(*lab.Node) []string {
			args := []string{
				"--peer-router-ips", injectorAddr.Addr().String(),
				"--peer-router-asns", strconv.Itoa(injectorASN),
				"--accept-upstream-routes",
			}
			if b.o.profile != "" {
				args = append(args, "--profiling")
			}
			if d := bgp.DefaultUpstreamMaxPrefixes; d > 0 && b.o.routes > d {
				// More than the default prefix limit would shut the session
				// down; lift it (0), as a limit costs GoBGP a walk of the
				// Adj-RIB-In per UPDATE.
				args = append(args, "--peer-router-max-prefixes", "0")
			}
			return args
		},
		AgentEnv: func(*lab.Node) []string {
			var env []string
			if b.o.goMemLimit != "" {
				env = append(env, "GOMEMLIMIT="+b.o.goMemLimit)
			}
			if b.o.goDebug != "" {
				env = append(env, "GODEBUG="+b.o.goDebug)
			}
			if b.o.goGC != "" {
				env = append(env, "GOGC="+b.o.goGC)
			}
			return env
		},
	})
	b.lab = l
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	b.node = l.Nodes[0]
	if b.o.memoryMax > 0 {
		b.step("agent restarted in a memory cgroup limited to %d MiB, GOMEMLIMIT=%s", b.o.memoryMax>>20, b.o.goMemLimit)
		if b.cgroup, err = newAgentCgroup(b.o.memoryMax); err != nil {
			return err
		}
		if err := b.lab.Agents.Stop(b.node); err != nil {
			return err
		}
		if err := b.cgroup.startIn(func() error { return b.lab.Agents.Start(b.node) }); err != nil {
			return err
		}
	}
	b.step("namespace %s: %s on %s", injectorNetns, injectorAddr, fabricBridge)
	if err := addFabricNetns(ctx, injectorNetns, injectorPort, injectorAddr); err != nil {
		return err
	}
	prefixFile := filepath.Join(b.work, "prefixes")
	if err := writeLines(prefixFile, prefixes, netip.Prefix.String); err != nil {
		return err
	}
	b.step("bgpinject in %s: %d routes in %s, peer %s", injectorNetns, len(prefixes), injectedRange, b.node.IP)
	b.injector, err = startInjector(injectorParams{
		Binary:   b.o.injector,
		Prefixes: prefixFile,
		Peer:     b.node.IP.String(),
		PeerASN:  agentASN,
		Log:      filepath.Join(b.work, "bgpinject.log"),
		Packed:   b.o.packed,
	})
	if err != nil {
		return err
	}
	if _, err := b.injector.expect(ctx, "ready", sessionTimeout); err != nil {
		return err
	}
	b.step("waiting for the BGP session %s - %s (up to %s)", injectorAddr.Addr(), b.node.IP, sessionTimeout)
	if _, err := b.injector.expect(ctx, "established", sessionTimeout); err != nil {
		return err
	}
	// The lab's pod came up just before (its CNI config waited for this
	// session): its links' full pass is not the announce's to pay.
	time.Sleep(settle)
	return nil
}

func (b *bench) measureAgent(ctx context.Context, res *results) error {
	c, err := newRouteCounter(b.node.Netns, injectedRange, agentProtocol)
	if err != nil {
		return err
	}
	defer c.Close()
	if n, err := c.Count(); err != nil {
		return err
	} else if n != 0 {
		return fmt.Errorf("%s has %d routes of protocol %d in %s before the announce", b.node.Netns, n, agentProtocol, injectedRange)
	}
	agent, err := b.lab.Agents.Process(b.node)
	if err != nil {
		return err
	}
	if name := lab.ProcessName(agent.PID); name != "router" {
		return fmt.Errorf("agent pid %d is %q, not router", agent.PID, name)
	}
	if b.cgroup != nil {
		res.cgroupLimitMiB = float64(b.o.memoryMax) / (1 << 20)
	}
	if res.agentBeforeKiB, err = lab.ProcStatusKiB(agent.PID, "VmRSS"); err != nil {
		return err
	}
	n := b.o.routes
	prof := &profiler{dir: b.o.profile, netns: b.node.Netns, url: agentPprof, seconds: b.o.profileSeconds}
	prof.startCPU(ctx)
	rss := startRSSPeak("install", agent.PID)
	defer rss.end()

	b.step("announce %d routes; timing until all are in %s's kernel", n, b.node.Name)
	passes0, err := readPassCounts(ctx, b.node.Netns)
	if err != nil {
		return err
	}
	cpu0, err := lab.ProcCPUSeconds(agent.PID)
	if err != nil {
		return err
	}
	stopHeaps := prof.heapsDuring(ctx, "during", time.Second)
	res.install, res.injectAnnounce, err = b.timeAgent(ctx, c, "announce", "announced", 0, n)
	stopHeaps()
	if err != nil {
		return fmt.Errorf("route install: %w", err)
	}
	cpu1, err := lab.ProcCPUSeconds(agent.PID)
	if err != nil {
		return err
	}
	res.installCPU = cpu1 - cpu0
	passes1, err := readPassCounts(ctx, b.node.Netns)
	if err != nil {
		return err
	}
	res.installPasses = passes1.since(passes0)
	time.Sleep(settle)
	if got, err := c.Count(); err != nil {
		return err
	} else if got != n {
		return fmt.Errorf("route install: %d of %d routes left %s later", got, n, settle)
	}
	if err := prof.heap(ctx, "installed"); err != nil {
		return err
	}

	b.step("withdraw %d routes; timing until all are gone from %s's kernel", n, b.node.Name)
	passes2, err := readPassCounts(ctx, b.node.Netns)
	if err != nil {
		return err
	}
	cpu2, err := lab.ProcCPUSeconds(agent.PID)
	if err != nil {
		return err
	}
	rss.setPhase("withdraw")
	stopHeaps = prof.heapsDuring(ctx, "withdrawing", time.Second)
	res.withdraw, res.injectWithdraw, err = b.timeAgent(ctx, c, "withdraw", "withdrawn", n, 0)
	stopHeaps()
	if err != nil {
		return fmt.Errorf("route withdraw: %w", err)
	}
	if res.agentPeakSample, res.agentPeakPhase, err = rss.end(); err != nil {
		return err
	}
	cpu3, err := lab.ProcCPUSeconds(agent.PID)
	if err != nil {
		return err
	}
	res.withdrawCPU = cpu3 - cpu2
	passes3, err := readPassCounts(ctx, b.node.Netns)
	if err != nil {
		return err
	}
	res.withdrawPasses = passes3.since(passes2)
	if res.agentPeakKiB, err = lab.ProcStatusKiB(agent.PID, "VmHWM"); err != nil {
		return err
	}
	if b.cgroup != nil {
		if res.cgroupPeakMiB, res.cgroupHits, err = b.cgroup.peak(); err != nil {
			return err
		}
	}
	return errors.Join(prof.heap(ctx, "withdrawn"), prof.waitCPU())
}

// timeAgent sends cmd to the injector and polls the kernel from that moment
// until the count goes from `from` to `to`.
func (b *bench) timeAgent(ctx context.Context, c counter, cmd, answer string, from, to int) (convergence, time.Duration, error) {
	return timeInjector(ctx, b.injector, c, cmd, answer, from, to, b.o.timeout, b.lastSent())
}

// lastSent is the last prefix of the injector's list: the one the counts
// probe (see prober).
func (b *bench) lastSent() netip.Prefix { return b.prefixes[len(b.prefixes)-1] }

// timeInjector sends cmd to inj and polls c from that moment until the count
// goes from `from` to `to`, probing last, the last prefix of the injector's
// list (the last it sends, but for GoBGP's withdrawal of them all, which
// goes in its RIB's order); it also returns how long the injector's own
// GoBGP took.
func timeInjector(ctx context.Context, inj *injectorProc, c counter, cmd, answer string, from, to int, timeout time.Duration, last netip.Prefix) (convergence, time.Duration, error) {
	t0 := time.Now()
	if err := inj.send(cmd); err != nil {
		return convergence{}, 0, err
	}
	conv, err := waitCount(ctx, c, t0, from, to, timeout, last)
	if err != nil {
		return conv, 0, err
	}
	line, err := inj.expect(ctx, answer, timeout)
	if err != nil {
		return conv, 0, err
	}
	var n int
	var secs float64
	if _, err := fmt.Sscanf(line, answer+" n=%d s=%g", &n, &secs); err != nil {
		return conv, 0, fmt.Errorf("bgpinject: reading %q: %w", line, err)
	}
	return conv, time.Duration(secs * float64(time.Second)), nil
}

// measureReference times ip -batch adding and deleting the same routes in a
// namespace of their own: the kernel's own speed with one netlink request per
// route from a tool that does nothing else.
func (b *bench) measureReference(ctx context.Context, prefixes []netip.Prefix, res *results) error {
	b.step("reference: ip -batch in %s", referenceNetns)
	if err := addReferenceNetns(ctx); err != nil {
		return err
	}
	add, del := filepath.Join(b.work, "add.batch"), filepath.Join(b.work, "del.batch")
	// proto 78 like the agent's routes, so the same counter checks both.
	suffix := fmt.Sprintf(" via %s proto %d", refGateway, agentProtocol)
	if err := writeLines(add, prefixes, func(p netip.Prefix) string { return "route add " + p.String() + suffix }); err != nil {
		return err
	}
	if err := writeLines(del, prefixes, func(p netip.Prefix) string { return "route del " + p.String() + suffix }); err != nil {
		return err
	}
	c, err := newRouteCounter(referenceNetns, injectedRange, agentProtocol)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, m := range []struct {
		file string
		want int
		took *time.Duration
	}{{add, len(prefixes), &res.refAdd}, {del, 0, &res.refDel}} {
		if *m.took, err = timeCommand(ctx, "ip", "-n", referenceNetns, "-batch", m.file); err != nil {
			return err
		}
		if got, err := c.Count(); err != nil {
			return err
		} else if got != m.want {
			return fmt.Errorf("reference: %d routes in %s after ip -batch %s, want %d", got, referenceNetns, m.file, m.want)
		}
	}
	return nil
}

// cleanup removes everything the run made, past errors: the injector (by
// PID), our namespaces, the lab, the work dir.
func (b *bench) cleanup(ctx context.Context) error {
	b.step("cleanup: bgpinject, %s, %s, lab in %s", injectorNetns, referenceNetns, b.o.dir)
	var errs []error
	if b.o.profile != "" && b.lab != nil && b.node != nil {
		// The agent's log goes with its profiles: it tells the passes apart.
		if data, err := os.ReadFile(b.lab.Agents.Log(b.node)); err == nil {
			errs = append(errs, os.WriteFile(filepath.Join(b.o.profile, "agent.log"), data, 0o644))
		}
	}
	if b.injector != nil {
		errs = append(errs, b.injector.stop())
	}
	errs = append(errs, deleteNetns(ctx, injectorNetns), deleteNetns(ctx, referenceNetns), deleteNetns(ctx, dutNetns))
	errs = append(errs, lab.Down(ctx, b.o.dir))
	if b.cgroup != nil {
		errs = append(errs, b.cgroup.remove())
	}
	if err := os.RemoveAll(b.work); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", b.work, err))
	}
	return errors.Join(errs...)
}

// printLogs shows the end of the agent's and the injector's logs before
// cleanup removes them, so a failed run can be read.
func (b *bench) printLogs() {
	if b.lab != nil && b.node != nil {
		printTail("agent "+b.node.Name, b.lab.Agents.Log(b.node))
	}
	if b.injector != nil {
		printTail("bgpinject", b.injector.log)
	}
}

func printTail(what, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "--- %s log %s: %v\n", what, path, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	fmt.Fprintf(os.Stderr, "--- last lines of the %s log (%s):\n%s\n", what, path, strings.Join(lines[max(0, len(lines)-40):], "\n"))
}
