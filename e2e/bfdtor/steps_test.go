//go:build e2e

package bfdtor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	sessionWait = 90 * time.Second
	maxFailover = 1500 * time.Millisecond
	// maxRecovery: the lab's ToRs take nodes through a listen range, and
	// FRR deletes such a dynamic neighbor, with its BFD session, when the
	// session drops; BFD can then only come back after BGP, so the agent
	// lets a silent peer's session try again after 3 s (bfdHoldSilent),
	// and GoBGP dials 1-2 s later.
	maxRecovery = 8 * time.Second
	pollEvery   = 20 * time.Millisecond
)

// upstream is what both ToRs announce (TEST-NET-2).
var upstream = netip.MustParsePrefix("198.51.100.0/24")

// checkToRBFD: tor has every node Up with our 300 ms x 3.
func checkToRBFD(ctx context.Context, l *lab.Lab, tor *lab.ToR) error {
	peers, err := tor.BFDPeers(ctx)
	if err != nil {
		return err
	}
	for _, n := range l.Nodes {
		p, ok := peers[n.IP.String()]
		if !ok || p.Status != "up" || p.RemoteRX != 300 || p.RemoteTX != 300 || p.RemoteMult != 3 {
			return fmt.Errorf("%s: BFD peer %s: %+v (found %v), want up with remote 300/300 x3", tor.Name, n.Name, p, ok)
		}
	}
	return nil
}

// route is node's kernel route to dst: its gateways (several for multipath).
func route(ctx context.Context, node *lab.Node, dst netip.Prefix) ([]netip.Addr, error) {
	out, err := e2eutil.Output(ctx, "ip", "-n", node.Netns, "-j", "route", "show", "proto", e2eutil.RouteProto, dst.String())
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Gateway  string `json:"gateway"`
		NextHops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			return nil, err
		}
	}
	var gws []netip.Addr
	for _, r := range rows {
		if r.Gateway != "" {
			gws = append(gws, netip.MustParseAddr(r.Gateway))
		}
		for _, nh := range r.NextHops {
			gws = append(gws, netip.MustParseAddr(nh.Gateway))
		}
	}
	slices.SortFunc(gws, func(a, b netip.Addr) int { return a.Compare(b) })
	return gws, nil
}

func announce(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, tor := range l.ToRs {
		if err := tor.Announce(ctx, upstream); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tor.Withdraw(context.Background(), upstream) })
	}
	for _, n := range l.Nodes {
		e2eutil.Eventually(t, sessionWait, 200*time.Millisecond, n.Name+" multipath", func() error {
			gws, err := route(ctx, n, upstream)
			if err != nil {
				return err
			}
			if len(gws) != 2 {
				return fmt.Errorf("%s: route to %s via %v, want both ToRs", n.Name, upstream, gws)
			}
			return nil
		})
	}
}

func testSessions(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	for _, tor := range l.ToRs {
		e2eutil.LogStep(t, "%s: show bfd peers json has every node up with remote 300/300 x3", tor.Name)
		e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, tor.Name+" BFD", func() error { return checkToRBFD(ctx, l, tor) })
	}
	peers, _ := l.ToRs[0].BFDPeers(ctx)
	t.Logf("%s: %+v", l.ToRs[0].Name, peers)
}

func testToRFails(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	announce(ctx, t, l)
	tor1, tor2 := l.ToRs[0], l.ToRs[1]
	node := l.Nodes[0]
	t.Cleanup(func() { _ = tor1.Silence(context.Background(), false) })

	e2eutil.LogStep(t, "%s goes silent (BFD and BGP dropped both ways in its namespace)", tor1.Name)
	fault := time.Now()
	if err := tor1.Silence(ctx, true); err != nil {
		t.Fatal(err)
	}
	moved := e2eutil.Eventually(t, 10*time.Second, pollEvery, "route via "+tor2.Name+" only", func() error {
		for _, n := range l.Nodes {
			gws, err := route(ctx, n, upstream)
			if err != nil {
				return err
			}
			if !slices.Equal(gws, []netip.Addr{lab.ToRAddr(2, n.Rack)}) {
				return fmt.Errorf("%s: %s via %v", n.Name, upstream, gws)
			}
		}
		return nil
	})
	t.Logf("ToR fault -> every node routes %s via %s only: %s (BFD 300ms x 3)", upstream, tor2.Name, moved.Round(time.Millisecond))
	if time.Since(fault) > 10*time.Second || moved > maxFailover {
		t.Errorf("fault -> route change took %s, want within %s", moved, maxFailover)
	}

	e2eutil.LogStep(t, "%s answers again: multipath returns within %s", tor1.Name, maxRecovery)
	heal := time.Now()
	if err := tor1.Silence(ctx, false); err != nil {
		t.Fatal(err)
	}
	back := e2eutil.Eventually(t, 60*time.Second, pollEvery, "multipath again", func() error {
		gws, err := route(ctx, node, upstream)
		if err != nil {
			return err
		}
		if len(gws) != 2 {
			return fmt.Errorf("%s: %s via %v", node.Name, upstream, gws)
		}
		return nil
	})
	t.Logf("heal -> multipath again on %s: %s", node.Name, back.Round(time.Millisecond))
	t.Logf("where the time went, from %s's log (ms after the heal):\n%s", node.Name,
		recoveryTimeline(t, l, node, lab.ToRAddr(1, node.Rack), heal, heal.Add(back)))
	t.Logf("%s: the new session with %s %s", tor1.Name, node.Name, dialedBy(ctx, tor1, node))
	if back > maxRecovery {
		t.Errorf("heal -> multipath took %s, want within %s", back, maxRecovery)
	}
	e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, tor1.Name+" BFD", func() error { return checkToRBFD(ctx, l, tor1) })
}

// testPlannedRestart: node1's agent restarts while node2's pod pings
// node1's pod through the fabric; the ToRs keep node1's pod CIDR (graceful
// restart) although node1's BFD goes AdminDown, so no ping is lost.
func testPlannedRestart(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	node1, node2 := l.Nodes[0], l.Nodes[1]
	if node1.Pod == nil || node2.Pod == nil {
		t.Fatal("no pods")
	}
	p, err := e2eutil.StartPinger(node2.Pod.Netns, node1.Pod.IP, 50*time.Millisecond, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop() })
	time.Sleep(time.Second)
	t.Cleanup(func() {
		if !l.Agents.Running(node1) {
			_ = l.Agents.Start(node1)
		}
	})
	e2eutil.LogStep(t, "SIGTERM %s's agent", node1.Name)
	if err := l.Agents.Stop(node1); err != nil {
		t.Fatal(err)
	}
	e2eutil.Consistently(t, 5*time.Second, 250*time.Millisecond, "the ToRs keep "+node1.PodCIDR.String(), func() error {
		for _, tor := range l.ToRs {
			table, err := tor.BGPTable(ctx)
			if err != nil {
				return err
			}
			if len(table[node1.PodCIDR]) == 0 {
				peers, _ := tor.BFDPeers(ctx)
				return fmt.Errorf("%s dropped %s; BFD %+v", tor.Name, node1.PodCIDR, peers[node1.IP.String()])
			}
		}
		return nil
	})
	for _, tor := range l.ToRs {
		peers, _ := tor.BFDPeers(ctx)
		table, _ := tor.BGPTable(ctx)
		t.Logf("%s while %s's agent is down: BFD %+v, paths %+v", tor.Name, node1.Name, peers[node1.IP.String()], table[node1.PodCIDR])
	}
	if err := l.Agents.Start(node1); err != nil {
		t.Fatal(err)
	}
	for _, tor := range l.ToRs {
		e2eutil.Eventually(t, sessionWait, 500*time.Millisecond, tor.Name+" BFD after the restart", func() error { return checkToRBFD(ctx, l, tor) })
	}
	time.Sleep(time.Second)
	count, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pings across the restart: %s", count)
	if count.Sent < 100 || len(count.Lost) > 0 {
		t.Errorf("pings across the restart: %s, want at least 100 sent and none lost", count)
	}
}

// logLine is the time and message of an agent log line about a peer.
var logLine = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]+)".* peer=(\S+)`)

// timelineMsg: the lines of a recovery (GoBGP's warnings about the
// re-created neighbor are left out).
var timelineMsg = regexp.MustCompile(`^(BFD session|BGP peer|Peer (Up|Down))`)

// recoveryTimeline lists node's log lines about peer between from and to
// (BFD transitions, the hold lifted and the neighbor re-created, GoBGP's
// Peer Up), each with its time after from, and the routes' return at to.
func recoveryTimeline(t *testing.T, l *lab.Lab, node *lab.Node, peer netip.Addr, from, to time.Time) string {
	t.Helper()
	log, err := e2eutil.Output(context.Background(), "cat", l.Agents.Log(node))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil || m[3] != peer.String() || !timelineMsg.MatchString(m[2]) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || at.Before(from) || at.After(to.Add(time.Second)) {
			continue
		}
		fmt.Fprintf(&b, "  +%5d ms %s\n", at.Sub(from).Milliseconds(), m[2])
	}
	fmt.Fprintf(&b, "  +%5d ms multipath back in the kernel (poll every %s)\n", to.Sub(from).Milliseconds(), pollEvery)
	return b.String()
}

// dialedBy says which side opened tor's BGP session with node, from FRR's
// ports: the side whose port is 179 accepted.
func dialedBy(ctx context.Context, tor *lab.ToR, node *lab.Node) string {
	out, err := tor.Vtysh(ctx, "show bgp neighbors "+node.IP.String()+" json")
	if err != nil {
		return err.Error()
	}
	var nb map[string]struct {
		PortLocal       int    `json:"portLocal"`
		PortForeign     int    `json:"portForeign"`
		LastResetDueTo  string `json:"lastResetDueTo"`
		ConnectionsDrop int    `json:"connectionsDropped"`
	}
	if err := json.Unmarshal([]byte(out), &nb); err != nil {
		return fmt.Sprintf("(show bgp neighbors json: %v)", err)
	}
	n := nb[node.IP.String()]
	who := "was dialed by the ToR"
	if n.PortLocal == 179 {
		who = "was dialed by the node"
	}
	return fmt.Sprintf("%s (ToR port %d, node port %d; FRR's last reset: %q, connections dropped %d)", who, n.PortLocal, n.PortForeign, n.LastResetDueTo, n.ConnectionsDrop)
}
