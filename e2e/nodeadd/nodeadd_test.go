//go:build e2e

package nodeadd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

var (
	reps    = flag.Int("nodeadd.reps", 10, "joins of each kind per build")
	joiners = flag.String("nodeadd.joiners", "high,low", "which node joins, comma-separated: high (node 4, the highest IP: every other node dials it) or low (node 1, the lowest IP: it dials every other node)")
	builds  = flag.String("nodeadd.builds", "stock=", "agent builds to compare, name=path comma-separated; an empty path is _output/bin/router")
	delay   = flag.Duration("nodeadd.agent-delay", 0, "start the joiner's agent this long after its Node object, as in a cluster where the DaemonSet pod starts after kubelet registered the node; 0 starts it at once (the lab's way)")
)

const (
	labDir    = "/tmp/nodebgp-nodeadd"
	labNodes  = 4
	upTimeout = 6 * time.Minute
	pollEvery = 10 * time.Millisecond
	// joinBound bounds one join: a dial that fails waits out GoBGP's
	// connect retry (5-10 s) and perhaps its 5 s idle hold.
	joinBound = 60 * time.Second
)

// joinerNumber is the lab node number of each kind of join.
var joinerNumber = map[string]int{"high": labNodes, "low": 1}

// BenchmarkNodeAdd brings up, per agent build, a lab of four nodes (iBGP
// mesh) in one rack behind an FRR ToR (the lab's listen range, so the ToR
// never dials), and makes a node join again and again: its agent stopped,
// its Node object deleted and its namespace removed, then added back the
// way lab.AddNode adds a machine (network, Node object, install-cni, agent).
// Each join's timeline comes from the agents' JSON logs at debug level
// (neighbor added, GoBGP's dials, Peer Up) and from polling every other
// node's kernel and the ToR's for the joiner's pod CIDR. It prints the
// timelines and a table; the figures are not asserted. One iteration is
// the whole run:
//
//	go test -tags e2e -run '^$' -bench NodeAdd -benchtime 1x ./e2e/nodeadd/
func BenchmarkNodeAdd(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces)")
	}
	fmt.Printf("# nodebgp bench node-add: %s agent-delay=%s\n", lab.Machine(), *delay)
	var rows []Row
	for _, spec := range strings.Split(*builds, ",") {
		name, path, _ := strings.Cut(spec, "=")
		r, err := runBuild(name, path)
		rows = append(rows, r...)
		if err != nil {
			b.Fatalf("build %s: %v", name, err)
		}
	}
	fmt.Printf("# done: %s\n", lab.Machine())
	WriteTable(os.Stdout, rows)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05.000")+" "+format+"\n", args...)
}

// steps records when lab.AddNode passed its steps.
type steps struct {
	mu sync.Mutex
	at map[lab.NodeStep]time.Time
}

func (s *steps) note(_ *lab.Node, step lab.NodeStep) {
	if step == lab.AgentStarting {
		time.Sleep(*delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[step] = time.Now()
}

func (s *steps) get(step lab.NodeStep) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[step]
}

// runBuild runs every join on a lab of its own running the agent at
// router ("" = the lab's default), always torn down.
func runBuild(name, router string) (rows []Row, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	st := &steps{at: map[lab.NodeStep]time.Time{}}
	l, err := lab.Up(ctx, lab.Options{
		Dir:        labDir,
		Nodes:      labNodes,
		Racks:      1,
		Router:     router,
		OnNodeStep: st.note,
		Logf:       func(f string, a ...any) { logf("lab: "+f, a...) },
		AgentArgs: func(n *lab.Node) []string {
			return []string{
				"--peer-router-ips=" + lab.ToRAddr(1, n.Rack).String(),
				"--peer-router-asns=" + fmt.Sprint(lab.ToRASN),
				"--log-format=json", "--log-level=debug",
			}
		},
	})
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer dcancel()
		err = errors.Join(err, lab.Down(dctx, labDir))
	}()
	if err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	// The ToR stops being a graceful-restart helper: a node that leaves
	// would otherwise stay routed at the ToR as stale for 120 s, and a
	// joiner's pod CIDR would be there before it announced it.
	if _, err := l.ToRs[0].Vtysh(ctx, "configure terminal", fmt.Sprintf("router bgp %d", lab.ToRASN),
		"bgp graceful-restart-disable", "end", "clear bgp *"); err != nil {
		return nil, fmt.Errorf("ToR without graceful restart: %w", err)
	}
	for _, kind := range strings.Split(*joiners, ",") {
		if _, ok := joinerNumber[kind]; !ok {
			return nil, fmt.Errorf("-nodeadd.joiners: %q is not high or low", kind)
		}
		rows = append(rows, Row{Build: name, Join: kind})
	}
	for i := 0; i < *reps; i++ {
		for k := range rows {
			j, err := join(l, st, joinerNumber[rows[k].Join])
			if err != nil {
				return rows, fmt.Errorf("%s join %d: %w", rows[k].Join, i+1, err)
			}
			rows[k].Joins = append(rows[k].Joins, j)
			fmt.Printf("%s/%s %d: %s\n", name, rows[k].Join, i+1, j.Timeline())
		}
	}
	return rows, nil
}

// join takes node n out of the lab, waits until no other node knows it any
// more, adds it back and times the join.
func join(l *lab.Lab, st *steps, n int) (Join, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*joinBound)
	defer cancel()
	node := l.NodeByName(lab.NodeName(n))
	if node == nil {
		return Join{}, fmt.Errorf("%s is not in the lab", lab.NodeName(n))
	}
	var others []*lab.Node
	for _, o := range l.Nodes {
		if o != node {
			others = append(others, o)
		}
	}
	if err := l.RemoveNode(ctx, node); err != nil {
		return Join{}, err
	}
	if _, err := e2eutil.WaitFor(joinBound, 100*time.Millisecond, node.Name+" gone from every node", func() error {
		return gone(ctx, l, node, others)
	}); err != nil {
		return Join{}, err
	}
	offsets := map[string]int64{}
	for _, o := range l.Nodes {
		offsets[o.Name] = logSize(l.Agents.Log(o))
	}
	offsets[node.Name] = logSize(l.Agents.Log(node))

	// Pollers first, so the first sighting is not late.
	tor := l.ToRs[0]
	var mu sync.Mutex
	seen := map[string]time.Time{}
	var wg sync.WaitGroup
	pollCtx, stopPolls := context.WithTimeout(ctx, joinBound)
	defer stopPolls()
	for _, ns := range append(netnsOf(others), tor.Name) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := firstSeen(pollCtx, ns, node.PodCIDR.String())
			mu.Lock()
			seen[ns] = at
			mu.Unlock()
		}()
	}
	st.at = map[lab.NodeStep]time.Time{}
	if _, err := l.AddNode(ctx, n); err != nil {
		return Join{}, err
	}
	wg.Wait()
	node = l.NodeByName(lab.NodeName(n))

	j := Join{Object: st.get(lab.NodeRegistering), Start: st.get(lab.AgentStarting), ToRRoute: seen[tor.Name]}
	joinerEvents, err := readLog(l.Agents.Log(node), offsets[node.Name])
	if err != nil {
		return j, err
	}
	for _, o := range others {
		peerEvents, err := readLog(l.Agents.Log(o), offsets[o.Name])
		if err != nil {
			return j, err
		}
		p := NewPair(o.Name, j.Object, node.IP, o.IP, joinerEvents, peerEvents)
		p.KernelRoute = seen[o.Netns]
		j.Pairs = append(j.Pairs, p)
	}
	return j, nil
}

// gone: no other node has a route to node's pod CIDR or a neighbor at its
// address, and the ToR has no route to it.
func gone(ctx context.Context, l *lab.Lab, node *lab.Node, others []*lab.Node) error {
	for _, o := range others {
		routes, err := e2eutil.KernelRoutes(ctx, o.Netns)
		if err != nil {
			return err
		}
		if r, ok := routes[node.PodCIDR]; ok {
			return fmt.Errorf("%s still routes %s (%v)", o.Name, node.PodCIDR, r)
		}
		nbs, err := l.Agents.Neighbors(ctx, o)
		if err != nil {
			return err
		}
		for _, nb := range nbs {
			if nb.Address == node.IP {
				return fmt.Errorf("%s still has neighbor %s", o.Name, node.IP)
			}
		}
	}
	if routeIn(ctx, l.ToRs[0].Name, node.PodCIDR.String()) {
		return fmt.Errorf("%s still routes %s", l.ToRs[0].Name, node.PodCIDR)
	}
	return nil
}

func netnsOf(nodes []*lab.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Netns)
	}
	return out
}

// firstSeen polls netns's main table every pollEvery until it has a route
// to prefix, and returns when; zero if ctx ended first.
func firstSeen(ctx context.Context, netns, prefix string) time.Time {
	for {
		if routeIn(ctx, netns, prefix) {
			return time.Now()
		}
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-time.After(pollEvery):
		}
	}
}

// routeIn: netns's main table has a route to exactly prefix (any
// protocol: the agent's 78 on a node, FRR's bgp on the ToR).
func routeIn(ctx context.Context, netns, prefix string) bool {
	out, err := exec.CommandContext(ctx, "ip", "-n", netns, "route", "show", "exact", prefix).Output()
	return err == nil && strings.TrimSpace(string(out)) != ""
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readLog reads the timeline events an agent logged after offset.
func readLog(path string, offset int64) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ev, err := ReadEvents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}
