//go:build e2e

package failover

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

var (
	faults     = flag.Int("failover.faults", 10, "faults of each kind per configuration")
	slowFaults = flag.Int("failover.slow-faults", 1, "faults of each kind in the configurations with graceful restart and no BFD (each waits out the hold time and the 120 s restart time)")
	coalesce   = flag.Duration("failover.tor-coalesce-time", 0, "set the ToRs' coalesce-time (FRR's default is about 1 s); 0 leaves it")
	configs    = flag.String("failover.configs", "bfd,hold3s-nogr,hold3s,default", "configurations to run, comma-separated")
	agentArgs  = flag.String("failover.agent-args", "", "more agent flags for every configuration, space-separated (e.g. --log-level=debug)")
	keepLogs   = flag.String("failover.logs", "", "copy the lab's logs (agents, FRR) into <dir>/<config>/ before each lab goes down; \"\" keeps none")
)

const (
	labDir    = "/tmp/nodebgp-failover"
	labNodes  = 3
	labToRs   = 2
	upTimeout = 6 * time.Minute
	pollEvery = 20 * time.Millisecond
	// steadyTimeout bounds the wait for every route to be back after a
	// heal: the hold-timer configurations wait out GoBGP's idle hold and
	// connect retry.
	steadyTimeout = 3 * time.Minute
)

// upstream is what both ToRs announce (TEST-NET-2): the route whose
// multipath loses the silent ToR.
var upstream = netip.MustParsePrefix("198.51.100.0/24")

// config is one way to run the lab: agent flags, what the ToRs need, and
// the bound on one fault's detection.
type config struct {
	name     string
	about    string
	bfd      bool // steady includes every BFD session Up
	args     []string
	prepare  func(ctx context.Context, tor *lab.ToR) error
	detectBy time.Duration
	faults   func() int
}

var allConfigs = []config{
	{
		name:  "bfd",
		bfd:   true,
		about: "BFD 300 ms x 3 on node and ToR sessions (--bfd, --peer-router-bfd; FRR bfdd profile 300/300 x3)",
		args:  []string{"--bfd", "--peer-router-bfd=true"},
		prepare: func(ctx context.Context, tor *lab.ToR) error {
			return tor.StartBFD(ctx)
		},
		detectBy: 15 * time.Second,
		faults:   func() int { return *faults },
	},
	{
		name:  "hold3s-nogr",
		about: "no BFD, no graceful restart, the shortest hold the flags allow: --mesh-hold-time=3s --mesh-keepalive-time=1s --bgp-graceful-restart=false; ToRs `timers 1 3`",
		args:  []string{"--mesh-hold-time=3s", "--mesh-keepalive-time=1s", "--bgp-graceful-restart=false"},
		prepare: func(ctx context.Context, tor *lab.ToR) error {
			return tor.SetNodeTimers(ctx, time.Second, 3*time.Second)
		},
		detectBy: 30 * time.Second,
		faults:   func() int { return *faults },
	},
	{
		// With graceful restart a hold timer expiry is no Hard Reset
		// (RFC 8538): the peer's routes stay as stale ones for its restart
		// time (120 s), so the hold time alone decides nothing.
		name:  "hold3s",
		about: "no BFD, graceful restart on (the default), --mesh-hold-time=3s --mesh-keepalive-time=1s; ToRs `timers 1 3`",
		args:  []string{"--mesh-hold-time=3s", "--mesh-keepalive-time=1s"},
		prepare: func(ctx context.Context, tor *lab.ToR) error {
			return tor.SetNodeTimers(ctx, time.Second, 3*time.Second)
		},
		detectBy: 5 * time.Minute,
		faults:   func() int { return *slowFaults },
	},
	{
		name:     "default",
		about:    "no BFD, default timers and graceful restart: 90 s hold between nodes, 90 s agreed with FRR's 180 s",
		detectBy: 7 * time.Minute,
		faults:   func() int { return *slowFaults },
	},
}

// BenchmarkFailover brings up, per configuration, one rack of three nodes
// (iBGP mesh) behind two FRR ToRs that both announce 198.51.100.0/24, and
// injects faults in turn: a node's uplink goes down (its pod CIDR must
// leave the other two kernels), then a ToR goes silent (every node's
// multipath must drop it). Each fault is lifted and the lab is back to
// steady before the next one. It prints a table per run; the time figures
// are not asserted (the machine is shared). One iteration is the whole run:
//
//	go test -tags e2e -run '^$' -bench Failover -benchtime 1x ./e2e/failover/
func BenchmarkFailover(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces)")
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*configs, ",") {
		want[strings.TrimSpace(c)] = true
	}
	fmt.Printf("# nodebgp bench-failover: %s\n", lab.Machine())
	var rows []Row
	for _, c := range allConfigs {
		if !want[c.name] {
			continue
		}
		fmt.Printf("# %s: %s\n", c.name, c.about)
		r, err := runConfig(c)
		rows = append(rows, r...)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
	}
	fmt.Printf("# done: %s\n", lab.Machine())
	WriteTable(os.Stdout, rows)
	fmt.Print(Raw(rows))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05.000")+" "+format+"\n", args...)
}

// runConfig runs c's faults on a lab of its own, always torn down.
func runConfig(c config) (rows []Row, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{
		Dir:   labDir,
		Nodes: labNodes,
		Racks: 1,
		ToRs:  labToRs,
		Logf:  func(f string, a ...any) { logf("lab: "+f, a...) },
		AgentArgs: func(n *lab.Node) []string {
			args := append([]string{
				"--peer-router-ips=" + torAddrs(n),
				"--peer-router-asns=" + fmt.Sprint(lab.ToRASN),
				"--accept-upstream-routes",
			}, c.args...)
			return append(args, strings.Fields(*agentArgs)...)
		},
	})
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer dcancel()
		if *keepLogs != "" {
			err = errors.Join(err, saveLogs(filepath.Join(*keepLogs, c.name)))
		}
		err = errors.Join(err, lab.Down(dctx, labDir))
	}()
	if err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	var nodes []netip.Addr
	for _, n := range l.Nodes {
		nodes = append(nodes, n.IP)
	}
	for _, tor := range l.ToRs {
		// The recommended ToR config (docs/peering.md): explicit neighbors.
		if err := tor.ExplicitNeighbors(ctx, nodes...); err != nil {
			return nil, err
		}
		if *coalesce > 0 {
			if err := tor.SetCoalesceTime(ctx, *coalesce); err != nil {
				logf("%s: coalesce-time not set, FRR's default stands: %v", c.name, err)
			}
		}
		if c.prepare != nil {
			if err := c.prepare(ctx, tor); err != nil {
				return nil, err
			}
		}
		if err := tor.Announce(ctx, upstream); err != nil {
			return nil, err
		}
	}
	took, err := e2eutil.WaitFor(steadyTimeout, 200*time.Millisecond, "steady", func() error { return steady(ctx, l, c.bfd) })
	if err != nil {
		return nil, err
	}
	logf("%s: steady after %s", c.name, took.Round(time.Millisecond))
	node := Row{Config: c.name, Fault: "node link down"}
	tor := Row{Config: c.name, Fault: "ToR silent"}
	for i := 0; i < c.faults(); i++ {
		s, err := nodeFault(l, l.Nodes[i%len(l.Nodes)], c.detectBy, c.bfd)
		if err != nil {
			return append(rows, node, tor), err
		}
		node.Samples = append(node.Samples, s)
		logf("%s: node fault %d: detect %s heal %s", c.name, i+1, s.Detect, s.Heal)
	}
	for i := 0; i < c.faults(); i++ {
		s, err := torFault(l, i%len(l.ToRs), c.detectBy, c.bfd)
		if err != nil {
			return append(rows, node, tor), err
		}
		tor.Samples = append(tor.Samples, s)
		logf("%s: ToR fault %d: detect %s heal %s", c.name, i+1, s.Detect, s.Heal)
	}
	return []Row{node, tor}, nil
}

// saveLogs copies the lab's logs (lab.LogPath's dir) into dir, which
// lab.Down would remove: the timeline of a slow heal is in the agents' logs.
func saveLogs(dir string) error {
	src := filepath.Dir(lab.LogPath(labDir, "x"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := exec.Command("cp", "-a", src+"/.", dir).Run(); err != nil {
		return fmt.Errorf("copying the lab's logs %s to %s: %w", src, dir, err)
	}
	logf("logs saved in %s", dir)
	return nil
}

func torAddrs(n *lab.Node) string {
	var out []string
	for t := 1; t <= labToRs; t++ {
		out = append(out, lab.ToRAddr(t, n.Rack).String())
	}
	return strings.Join(out, ",")
}

// steady: every node routes every other node's pod CIDR via that node,
// and the upstream prefix via both ToRs; with bfd, its BFD sessions with
// the other nodes and the ToRs are all Up, and so are the ToRs' BGP
// sessions with every node and, with bfd, the ToRs' BFD sessions: a fault
// that comes while a ToR still holds its session with the failed node
// from the last fault finds that ToR re-advertising the node's pod CIDR
// to the others (two first faults timed out so, docs/benchmarks.md).
func steady(ctx context.Context, l *lab.Lab, bfd bool) error {
	if bfd {
		if err := torsSteady(ctx, l); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if bfd {
			st, err := e2eutil.BFDStates(ctx, n)
			if err != nil {
				return err
			}
			for p, s := range st {
				if s != "Up" {
					return fmt.Errorf("%s: BFD with %s is %s", n.Name, p, s)
				}
			}
			if want := len(l.Nodes) - 1 + len(l.ToRs); len(st) != want {
				return fmt.Errorf("%s: %d BFD sessions %v, want %d", n.Name, len(st), st, want)
			}
		}
		routes, err := e2eutil.KernelRoutes(ctx, n.Netns)
		if err != nil {
			return err
		}
		for _, o := range l.Nodes {
			if o != n && !routes[o.PodCIDR].Is(o.IP) {
				return fmt.Errorf("%s: %s is %v, want via %s", n.Name, o.PodCIDR, routes[o.PodCIDR], o.IP)
			}
		}
		if !routes[upstream].Is(lab.ToRAddr(1, n.Rack), lab.ToRAddr(2, n.Rack)) {
			return fmt.Errorf("%s: %s is %v, want via both ToRs", n.Name, upstream, routes[upstream])
		}
	}
	return nil
}

// torsSteady: every ToR has its BGP session with every node established
// and its BFD session with every node up.
func torsSteady(ctx context.Context, l *lab.Lab) error {
	for _, tor := range l.ToRs {
		sessions, err := tor.SessionStates(ctx)
		if err != nil {
			return err
		}
		bfd, err := tor.BFDPeers(ctx)
		if err != nil {
			return err
		}
		for _, n := range l.Nodes {
			if st := sessions[n.IP.String()]; st != "Established" {
				return fmt.Errorf("%s: BGP session with %s is %q", tor.Name, n.Name, st)
			}
			if st := bfd[n.IP.String()].Status; st != "up" {
				return fmt.Errorf("%s: BFD with %s is %q", tor.Name, n.Name, st)
			}
		}
	}
	return nil
}

// healed times until every route is back, then waits (untimed) for BFD to
// be Up everywhere too, and the ToRs' sessions, so the next fault starts
// from a steady lab.
func healed(ctx context.Context, l *lab.Lab, bfd bool, what string) (time.Duration, error) {
	took, err := e2eutil.WaitFor(steadyTimeout, pollEvery, "routes back "+what, func() error { return steady(ctx, l, false) })
	if err != nil || !bfd {
		return took, err
	}
	_, err = e2eutil.WaitFor(steadyTimeout, 200*time.Millisecond, "BFD and the ToRs' sessions up "+what, func() error { return steady(ctx, l, true) })
	return took, err
}

// await polls done every pollEvery from start until it holds or bound has
// passed since start; it returns the time from start and whether it held.
func await(ctx context.Context, start time.Time, bound time.Duration, done func() (bool, error)) (time.Duration, bool, error) {
	for {
		ok, err := done()
		if err != nil {
			return 0, false, err
		}
		if ok {
			return time.Since(start), true, nil
		}
		if time.Since(start) > bound {
			return bound, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// nodeFault takes dead's uplink down, times until its pod CIDR is out of
// every other kernel, brings the link up and times until the lab is steady.
func nodeFault(l *lab.Lab, dead *lab.Node, bound time.Duration, bfd bool) (s Sample, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound+steadyTimeout+time.Minute)
	defer cancel()
	defer func() {
		if uerr := e2eutil.SetUplink(context.Background(), dead, true); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	fault := time.Now()
	logf("%s: uplink down", dead.Name)
	if err := e2eutil.SetUplink(ctx, dead, false); err != nil {
		return s, err
	}
	var ok bool
	s.Detect, ok, err = await(ctx, fault, bound, func() (bool, error) {
		for _, n := range l.Nodes {
			if n == dead {
				continue
			}
			routes, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				return false, err
			}
			if _, there := routes[dead.PodCIDR]; there {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return s, err
	}
	s.TimedOut = !ok
	if err := e2eutil.SetUplink(ctx, dead, true); err != nil {
		return s, err
	}
	logf("%s: uplink up again", dead.Name)
	s.Heal, err = healed(ctx, l, bfd, "after "+dead.Name+" came back")
	return s, err
}

// torFault silences ToR t, times until every node routes the upstream
// prefix via the other ToR only, lifts the silence and times until every
// node has the multipath again.
func torFault(l *lab.Lab, t int, bound time.Duration, bfd bool) (s Sample, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound+steadyTimeout+time.Minute)
	defer cancel()
	tor := l.ToRs[t]
	other := 2 - t // ToR numbers are 1-based: the other one of ToRs 1 and 2
	fault := time.Now()
	logf("%s: silenced", tor.Name)
	if err := tor.Silence(ctx, true); err != nil {
		return s, err
	}
	lifted := false
	defer func() {
		if !lifted {
			err = errors.Join(err, tor.Silence(context.Background(), false))
		}
	}()
	var ok bool
	s.Detect, ok, err = await(ctx, fault, bound, func() (bool, error) {
		for _, n := range l.Nodes {
			routes, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				return false, err
			}
			if !routes[upstream].Is(lab.ToRAddr(other, n.Rack)) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return s, err
	}
	s.TimedOut = !ok
	lifted = true
	if err := tor.Silence(ctx, false); err != nil {
		return s, err
	}
	logf("%s: silence lifted", tor.Name)
	s.Heal, err = healed(ctx, l, bfd, "after "+tor.Name+" answered again")
	return s, err
}
