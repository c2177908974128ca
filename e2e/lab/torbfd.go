package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// bfdProfile is the ToRs' BFD profile "nodes": what docs/peering.md
// recommends, 300 ms x 3 both ways.
const bfdProfile = `! written by nodebgp's lab
bfd
 profile nodes
  transmit-interval 300
  receive-interval 300
  detect-multiplier 3
 !
!
`

func (t *ToR) bfddProcess() string { return "frr-" + t.Name + "-bfdd" }

// StartBFD runs FRR's bfdd beside the ToR's zebra and bgpd (a lab process,
// stopped with the others) and turns BFD on for the nodes' peer groups with
// profile "nodes" (300 ms x 3) and check-control-plane-failure, as
// docs/peering.md recommends. The lab starts only zebra and bgpd, so suites
// that need BFD call this after Up.
func (tor *ToR) StartBFD(ctx context.Context) error {
	conf := filepath.Join(tor.Dir, "bfdd.conf")
	if err := os.WriteFile(conf, []byte(bfdProfile), 0o644); err != nil {
		return err
	}
	_, err := tor.procs.Start(tor.bfddProcess(), tor.Name,
		"/usr/lib/frr/bfdd", "-u", "root", "-g", "frrvty",
		"-f", conf, "-i", filepath.Join(tor.Dir, "bfdd.pid"),
		"-z", tor.zservPath(), "--vty_socket", tor.Dir,
		"--bfdctl", filepath.Join(tor.Dir, "bfdd.sock"), "--log", "stdout")
	if err != nil {
		return fmt.Errorf("ToR %s: starting bfdd: %w", tor.Name, err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := tor.Vtysh(ctx, "show bfd peers json")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ToR %s: bfdd does not answer: %w", tor.Name, err)
		}
	}
	return tor.forPeerGroups(ctx, "bfd", "bfd profile nodes", "bfd check-control-plane-failure")
}

// SetNodeTimers sets the BGP keepalive and hold time of the ToR's sessions
// with the nodes (`neighbor NODES timers`); the session agrees on the lower
// hold time of the two sides, so this is how a lab gets a 3 s hold without
// touching the agents.
func (tor *ToR) SetNodeTimers(ctx context.Context, keepalive, hold time.Duration) error {
	return tor.forPeerGroups(ctx, fmt.Sprintf("timers %d %d", int(keepalive.Seconds()), int(hold.Seconds())))
}

// forPeerGroups runs `neighbor GROUP <setting>` for each setting on the
// nodes' peer groups (NODES, and NODES6 in a dual-stack lab).
func (tor *ToR) forPeerGroups(ctx context.Context, settings ...string) error {
	groups := []string{ToRPeerGroup}
	if len(tor.Addrs6) > 0 {
		groups = append(groups, ToRPeerGroup6)
	}
	cmds := []string{"configure terminal", fmt.Sprintf("router bgp %d", ToRASN)}
	for _, g := range groups {
		for _, s := range settings {
			cmds = append(cmds, "neighbor "+g+" "+s)
		}
	}
	if out, err := tor.Vtysh(ctx, cmds...); err != nil {
		return fmt.Errorf("ToR %s: %w: %s", tor.Name, err, out)
	}
	return nil
}

// Silence makes the ToR drop BFD and BGP both ways (iptables in its
// namespace), or lifts that: a ToR that stops answering, with no Cease and
// no BFD AdminDown.
func (tor *ToR) Silence(ctx context.Context, on bool) error {
	op := "-I"
	if !on {
		op = "-D"
	}
	for _, r := range [][]string{
		{"INPUT", "-p", "udp", "--dport", "3784"}, {"OUTPUT", "-p", "udp", "--dport", "3784"},
		{"INPUT", "-p", "tcp", "--dport", "179"}, {"INPUT", "-p", "tcp", "--sport", "179"},
		{"OUTPUT", "-p", "tcp", "--dport", "179"}, {"OUTPUT", "-p", "tcp", "--sport", "179"},
	} {
		args := append([]string{"netns", "exec", tor.Name, "iptables", op}, append(r, "-j", "DROP")...)
		if _, err := runCommand(ctx, "ip", args...); err != nil {
			return fmt.Errorf("ToR %s: %w", tor.Name, err)
		}
	}
	return nil
}

// ExplicitNeighbors turns the ToR's nodes from dynamic neighbors (accepted
// through the racks' listen ranges) into explicit `neighbor ADDR peer-group
// NODES` statements, for addrs. FRR deletes a dynamic neighbor, and the BFD
// session that came with it, when its BGP session drops, so only an
// explicit neighbor keeps BFD running while BGP is down and can tell the
// node the path is back (docs/peering.md). The listen ranges go first:
// FRR refuses to configure an address that is a dynamic neighbor, and
// removing a range ends its dynamic sessions, which then come back as the
// explicit ones.
func (tor *ToR) ExplicitNeighbors(ctx context.Context, addrs ...netip.Addr) error {
	cmds := []string{"configure terminal", fmt.Sprintf("router bgp %d", ToRASN)}
	for i := range tor.Addrs {
		cmds = append(cmds, fmt.Sprintf("no bgp listen range %s peer-group %s", RackPrefix(i+1), ToRPeerGroup))
	}
	for i := range tor.Addrs6 {
		cmds = append(cmds, fmt.Sprintf("no bgp listen range %s peer-group %s", RackPrefix6(i+1), ToRPeerGroup6))
	}
	for _, a := range addrs {
		group := ToRPeerGroup
		if a.Is6() {
			group = ToRPeerGroup6
		}
		cmds = append(cmds, fmt.Sprintf("neighbor %s peer-group %s", a, group))
	}
	if out, err := tor.Vtysh(ctx, cmds...); err != nil {
		return fmt.Errorf("ToR %s: %w: %s", tor.Name, err, out)
	}
	return nil
}

// SetCoalesceTime sets bgpd's subgroup coalesce time (`coalesce-time`, in
// ms): how long FRR waits after a session comes up for more peers to join
// its update group before it sends them its routes. FRR's default is about
// a second, which a node whose session with the ToR was just re-established
// waits for its routes.
func (tor *ToR) SetCoalesceTime(ctx context.Context, d time.Duration) error {
	out, err := tor.Vtysh(ctx, "configure terminal", fmt.Sprintf("router bgp %d", ToRASN),
		fmt.Sprintf("coalesce-time %d", d.Milliseconds()))
	if err != nil {
		return fmt.Errorf("ToR %s: %w: %s", tor.Name, err, out)
	}
	return nil
}

// FRRBFDPeer is the part of FRR's `show bfd peers json` the suites read.
type FRRBFDPeer struct {
	Peer       string `json:"peer"`
	Status     string `json:"status"`
	Diagnostic string `json:"diagnostic"`
	RemoteDiag string `json:"remote-diagnostic"`
	RemoteRX   int    `json:"remote-receive-interval"`
	RemoteTX   int    `json:"remote-transmit-interval"`
	RemoteMult int    `json:"remote-detect-multiplier"`
	RX         int    `json:"receive-interval"`
	TX         int    `json:"transmit-interval"`
}

// BFDPeers is the ToR's BFD sessions by peer address.
func (tor *ToR) BFDPeers(ctx context.Context) (map[string]FRRBFDPeer, error) {
	out, err := tor.Vtysh(ctx, "show bfd peers json")
	if err != nil {
		return nil, err
	}
	var peers []FRRBFDPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("%s: show bfd peers json: %w: %s", tor.Name, err, out)
	}
	m := map[string]FRRBFDPeer{}
	for _, p := range peers {
		m[p.Peer] = p
	}
	return m, nil
}

// SessionStates is the state of the ToR's BGP sessions ("Established",
// "Active", ...) by neighbor address, over both unicast families.
func (tor *ToR) SessionStates(ctx context.Context) (map[string]string, error) {
	out, err := tor.Vtysh(ctx, "show bgp summary json")
	if err != nil {
		return nil, err
	}
	var sum map[string]struct {
		Peers map[string]struct {
			State string `json:"state"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		return nil, fmt.Errorf("%s: show bgp summary json: %w: %s", tor.Name, err, out)
	}
	m := map[string]string{}
	for _, fam := range []string{"ipv4Unicast", "ipv6Unicast"} {
		for addr, p := range sum[fam].Peers {
			m[addr] = p.State
		}
	}
	return m, nil
}
