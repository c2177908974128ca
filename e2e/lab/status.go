package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// sessionTimeout bounds the wait for every node-to-node BGP session.
const sessionTimeout = 60 * time.Second

// NodeStatus is one row of `lab status`.
type NodeStatus struct {
	Name         string
	PodCIDR      netip.Prefix
	AgentRunning bool
	Neighbors    []Neighbor
	PodIP        netip.Addr // invalid when the node has no pod
	BGPErr       error      // why the neighbors could not be read
}

// Established counts the sessions that are up.
func (s NodeStatus) Established() int {
	n := 0
	for _, nb := range s.Neighbors {
		if nb.Established() {
			n++
		}
	}
	return n
}

// Status reads every node's BGP sessions through its own gobgp API, the way
// an operator would on the node. The error joins the nodes it could not read.
func (l *Lab) Status(ctx context.Context) ([]NodeStatus, error) {
	var errs []error
	out := make([]NodeStatus, 0, len(l.Nodes))
	for _, node := range l.Nodes {
		st := NodeStatus{Name: node.Name, PodCIDR: node.PodCIDR, AgentRunning: l.Agents.Running(node)}
		if node.Pod != nil {
			st.PodIP = node.Pod.IP
		}
		st.Neighbors, st.BGPErr = l.Agents.Neighbors(ctx, node)
		if st.BGPErr != nil {
			errs = append(errs, st.BGPErr)
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

// sessionPeer is a BGP peer a node must have an established session with.
type sessionPeer struct {
	name string
	addr netip.Addr
}

// missingSessions lists, per node, the other lab nodes it has no established
// session with; empty means the node mesh is complete.
func missingSessions(statuses []NodeStatus, nodes []*Node) []string {
	return missingPeers(statuses, func(name string) []sessionPeer {
		var peers []sessionPeer
		for _, n := range nodes {
			if n.Name != name {
				peers = append(peers, sessionPeer{name: n.Name, addr: n.IP})
			}
		}
		return peers
	})
}

// missingPeers lists, per node, the expected peers it has no established
// session with.
func missingPeers(statuses []NodeStatus, expected func(node string) []sessionPeer) []string {
	var missing []string
	for _, st := range statuses {
		state := map[netip.Addr]string{}
		for _, nb := range st.Neighbors {
			state[nb.Address] = nb.State
		}
		for _, peer := range expected(st.Name) {
			if state[peer.addr] == "ESTABLISHED" {
				continue
			}
			s := state[peer.addr]
			if s == "" {
				s = "not configured"
			}
			missing = append(missing, fmt.Sprintf("%s -> %s (%s): %s", st.Name, peer.name, peer.addr, s))
		}
	}
	return missing
}

// expectedPeers is what WaitSessions waits for on the node named: every
// other node, or what Options.ExpectSessions says.
func (l *Lab) expectedPeers(name string) []sessionPeer {
	node := l.NodeByName(name)
	if node == nil || l.Opts.ExpectSessions == nil {
		var peers []sessionPeer
		for _, n := range l.Nodes {
			if n.Name != name {
				peers = append(peers, sessionPeer{name: n.Name, addr: n.IP})
			}
		}
		return peers
	}
	var peers []sessionPeer
	for _, a := range l.Opts.ExpectSessions(node) {
		peers = append(peers, sessionPeer{name: l.addrName(a), addr: a})
	}
	return peers
}

// addrName names a lab address: the node or ToR that has it.
func (l *Lab) addrName(a netip.Addr) string {
	for _, n := range l.Nodes {
		if n.IP == a {
			return n.Name
		}
	}
	for _, t := range l.ToRs {
		if slices.Contains(t.Addrs, a) {
			return t.Name
		}
	}
	return a.String()
}

// WaitSessions waits until every node has an established session with every
// peer it must have: every other lab node, unless Options.ExpectSessions
// says otherwise.
func (l *Lab) WaitSessions(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var missing []string
	for {
		statuses, _ := l.Status(ctx)
		if missing = missingPeers(statuses, l.expectedPeers); len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("BGP sessions not established within %s: %s", timeout, strings.Join(missing, "; "))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// WriteStatusTable prints statuses as the `lab status` table.
func WriteStatusTable(w io.Writer, statuses []NodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOD-CIDR\tBGP-UP\tPOD-IP")
	for _, st := range statuses {
		bgp := fmt.Sprintf("%d/%d", st.Established(), len(st.Neighbors))
		switch {
		case !st.AgentRunning:
			bgp = "agent stopped"
		case st.BGPErr != nil:
			bgp = "unreadable"
		}
		podIP := "-"
		if st.PodIP.IsValid() {
			podIP = st.PodIP.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Name, st.PodCIDR, bgp, podIP)
	}
	return tw.Flush()
}

// Dump writes what a failed run needs to be read afterwards: per node its
// routes, firewall, BGP state and the tail of its agent log.
func (l *Lab) Dump(ctx context.Context, w io.Writer) {
	for _, node := range l.Nodes {
		cmds := [][]string{
			{"ip", "-br", "addr"},
			{"ip", "route"},
			{"iptables-save"},
			{l.Tools.Gobgp, "neighbor"},
			{l.Tools.Gobgp, "global", "rib"},
		}
		for _, c := range cmds {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err := l.Net.Exec(cctx, node.Netns, c...)
			cancel()
			fmt.Fprintf(w, "=== %s: %s\n", node.Name, strings.Join(c, " "))
			if err != nil {
				fmt.Fprintln(w, err)
				continue
			}
			fmt.Fprint(w, out)
		}
		if node.Pod != nil {
			out, err := ip(ctx, node.Pod.Netns, "-br", "addr")
			fmt.Fprintf(w, "=== %s: pod %s: ip -br addr\n%s", node.Name, node.Pod.Netns, out)
			if err != nil {
				fmt.Fprintln(w, err)
			}
		}
		fmt.Fprintf(w, "=== %s: last lines of %s\n", node.Name, l.Agents.Log(node))
		if err := tail(w, l.Agents.Log(node), 80); err != nil {
			fmt.Fprintln(w, err)
		}
	}
	for _, tor := range l.ToRs {
		tor.dump(ctx, w)
	}
}

// tail copies the last n lines of a file to w.
func tail(w io.Writer, path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	for _, line := range lines {
		fmt.Fprintln(w, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
