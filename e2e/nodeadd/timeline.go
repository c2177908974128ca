// Package nodeadd is nodebgp's node-add latency benchmark (part of `make
// bench`): in the netns lab a node joins a cluster of agents, again and
// again, and the benchmark times where the time goes from its Node object
// to its pod CIDR in every other node's kernel, and from its agent's start
// to its pod CIDR at the ToR. The benchmark is in nodeadd_test.go (build tag
// e2e); this file holds its pure parts: reading the agents' JSON logs into a
// timeline, and the table.
package nodeadd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/failover"
)

// Event is one line of an agent's JSON log (--log-format=json) that names a
// BGP peer: the agent's own "BGP peer added", GoBGP's "try to connect",
// "failed to connect", "Peer Up".
type Event struct {
	Time time.Time
	Msg  string
	Peer netip.Addr
}

// The messages a timeline is made of.
const (
	msgPeerAdded = "BGP peer added" // the agent added the neighbor (pkg/bgp)
	msgDial      = "try to connect" // GoBGP dials (fsm.go connectLoop, debug)
	msgDialFail  = "failed to connect"
	msgPeerUp    = "Peer Up" // Established
)

// ReadEvents reads the events of the timeline from an agent's JSON log;
// lines that are not JSON (the lab's own "--- starting" line, a panic) and
// messages of no interest are skipped.
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var l struct {
			Time string `json:"time"`
			Msg  string `json:"msg"`
			Peer string `json:"peer"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("reading agent log line %q: %w", line, err)
		}
		switch l.Msg {
		case msgPeerAdded, msgDial, msgDialFail, msgPeerUp:
		default:
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			return nil, fmt.Errorf("agent log line %q: time: %w", line, err)
		}
		addr, err := peerAddr(l.Peer)
		if err != nil {
			return nil, fmt.Errorf("agent log line %q: %w", line, err)
		}
		out = append(out, Event{Time: t, Msg: l.Msg, Peer: addr})
	}
	return out, sc.Err()
}

// peerAddr is the address in a log's peer field: GoBGP writes the address,
// the agent "name (address)".
func peerAddr(s string) (netip.Addr, error) {
	if i := strings.LastIndexByte(s, '('); i >= 0 && strings.HasSuffix(s, ")") {
		s = s[i+1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("peer %q: not an address", s)
	}
	return a, nil
}

// Pair is the timeline of the session between the joining node and one
// other node ("the peer"), each time the first of its kind after the Node
// object was created; zero when it did not happen.
type Pair struct {
	Peer string
	// NeighborAdded: the peer's agent added the joining node as a neighbor
	// (its informer saw the Node object and a pass ran).
	NeighborAdded time.Time
	// JoinerAdded: the joining node's agent added the peer.
	JoinerAdded time.Time
	// FirstDial is the first "try to connect" of either side; Dialer is
	// "joiner" or "peer". Dials counts them, Failed the failed ones.
	FirstDial     time.Time
	Dialer        string
	Dials, Failed int
	// Established: the joining node's GoBGP logged Peer Up for the peer.
	Established time.Time
	// KernelRoute: the joining node's pod CIDR was seen in the peer's
	// kernel (polled).
	KernelRoute time.Time
}

// NewPair builds the pair's timeline from both agents' events since the
// Node object was created (since): joiner and peer are their addresses.
func NewPair(peer string, since time.Time, joiner, peerAddr netip.Addr, joinerEvents, peerEvents []Event) Pair {
	p := Pair{Peer: peer}
	note := func(t *time.Time, at time.Time) {
		if t.IsZero() || at.Before(*t) {
			*t = at
		}
	}
	dial := func(at time.Time, who string) {
		p.Dials++
		if p.FirstDial.IsZero() || at.Before(p.FirstDial) {
			p.FirstDial, p.Dialer = at, who
		}
	}
	for _, e := range joinerEvents {
		if e.Peer != peerAddr || e.Time.Before(since) {
			continue
		}
		switch e.Msg {
		case msgPeerAdded:
			note(&p.JoinerAdded, e.Time)
		case msgDial:
			dial(e.Time, "joiner")
		case msgDialFail:
			p.Failed++
		case msgPeerUp:
			note(&p.Established, e.Time)
		}
	}
	for _, e := range peerEvents {
		if e.Peer != joiner || e.Time.Before(since) {
			continue
		}
		switch e.Msg {
		case msgPeerAdded:
			note(&p.NeighborAdded, e.Time)
		case msgDial:
			dial(e.Time, "peer")
		case msgDialFail:
			p.Failed++
		}
	}
	return p
}

// Join is one node joining: when its Node object was created, when its
// agent started, each pair's timeline, and when its pod CIDR reached the
// ToR (zero without a ToR route seen).
type Join struct {
	Object, Start time.Time
	Pairs         []Pair
	ToRRoute      time.Time
}

// last is the latest of what each pair's field says, and whether every
// pair has it.
func (j Join) last(field func(Pair) time.Time) (time.Time, bool) {
	var out time.Time
	for _, p := range j.Pairs {
		t := field(p)
		if t.IsZero() {
			return time.Time{}, false
		}
		if t.After(out) {
			out = t
		}
	}
	return out, len(j.Pairs) > 0
}

// AllRoutes is when the joining node's pod CIDR was in every peer's kernel.
func (j Join) AllRoutes() (time.Time, bool) {
	return j.last(func(p Pair) time.Time { return p.KernelRoute })
}

// Timeline is the join as one line of milliseconds after the Node object
// was created, each phase the latest over the pairs, with who dialed first
// in each pair.
func (j Join) Timeline() string {
	ms := func(t time.Time, ok bool) string {
		if !ok || t.IsZero() {
			return "-"
		}
		return fmt.Sprint(t.Sub(j.Object).Milliseconds())
	}
	var dialers []string
	failed := 0
	for _, p := range j.Pairs {
		dialers = append(dialers, p.Peer+":"+p.Dialer)
		failed += p.Failed
	}
	nb, nbOK := j.last(func(p Pair) time.Time { return p.NeighborAdded })
	ja, jaOK := j.last(func(p Pair) time.Time { return p.JoinerAdded })
	fd, fdOK := j.last(func(p Pair) time.Time { return p.FirstDial })
	es, esOK := j.last(func(p Pair) time.Time { return p.Established })
	kr, krOK := j.AllRoutes()
	return fmt.Sprintf("peers' neighbor %s, agent start %s, joiner's neighbors %s, first dials %s, established %s, every kernel %s, ToR %s ms (first dialer %s; failed dials %d)",
		ms(nb, nbOK), ms(j.Start, true), ms(ja, jaOK), ms(fd, fdOK), ms(es, esOK), ms(kr, krOK), ms(j.ToRRoute, true),
		strings.Join(dialers, " "), failed)
}

// Row is one build of the agent and one kind of join over its repetitions.
type Row struct {
	Build, Join string
	Joins       []Join
}

// WriteTable prints rows as a Markdown table, p50 and max over the joins
// of: Node object → pod CIDR in every other kernel; agent start → the same;
// agent start → pod CIDR at the ToR. A join that never got there counts as
// missing ("n/m" joins complete).
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| build | joiner | joins | node-add → every kernel p50 / max s | agent start → every kernel p50 / max s | agent start → ToR p50 / max s |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		var add, start, tor []time.Duration
		for _, j := range r.Joins {
			if t, ok := j.AllRoutes(); ok {
				add = append(add, t.Sub(j.Object))
				start = append(start, t.Sub(j.Start))
			}
			if !j.ToRRoute.IsZero() {
				tor = append(tor, j.ToRRoute.Sub(j.Start))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d/%d | %s | %s | %s |\n", r.Build, r.Join, len(add), len(r.Joins),
			p50max(add), p50max(start), p50max(tor))
	}
}

func p50max(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f", failover.Percentile(ds, 50).Seconds(), failover.Percentile(ds, 100).Seconds())
}
