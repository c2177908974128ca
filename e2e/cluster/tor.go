package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

// The cluster's ToR is a real FRR (bgpd + zebra) in its own namespace with a
// leg on the node subnet (as a top-of-rack switch above the nodes) and a
// client subnet behind it, with one client namespace there: outside the
// cluster, reached and reaching the cluster only through the ToR.
//
//	clu-fabric br0 ── clu-tora ── eth0 10.198.1.254  clu-tor (AS 65000) ── clients 10.198.2.1
//	                                                                          │
//	                                                     clu-client eth0 10.198.2.10 (default via .1)
//
// Every node may peer with it (listen range 10.198.1.0/24, remote-as
// external, so the nodes' own AS is theirs); it installs up to 16 equal
// paths per prefix and hashes flows over them by ports too (L4 hash), and
// it announces the client subnet, so a node with --accept-upstream-routes
// routes answers back. The same FRR settings as the netns lab's ToRs
// (e2e/lab), read back with that package's ToR methods.
const (
	ToRNetns    = Prefix + "tor"
	ClientNetns = Prefix + "client"
	ToRASN      = lab.ToRASN

	torPort       = Prefix + "tora" // the fabric end of the ToR's leg
	torClientLeg  = "clients"       // the ToR's leg to the client subnet
	clientLegPeer = Prefix + "clb"  // the client end before it is moved and renamed
	torDirName    = "tor"
	torWait       = 20 * time.Second
)

var (
	// ToRAddr is the ToR's address on the node subnet, the nodes' peer.
	ToRAddr = netip.MustParseAddr("10.198.1.254")
	// ClientSubnet is the subnet behind the ToR; ToRClientAddr its gateway.
	ClientSubnet  = netip.MustParsePrefix("10.198.2.0/24")
	ToRClientAddr = netip.MustParseAddr("10.198.2.1")
	ClientAddr    = netip.MustParseAddr("10.198.2.10")
	nodeSubnet    = netip.MustParsePrefix("10.198.1.0/24")
)

// ToR is the running ToR. Its embedded lab.ToR reads it: Vtysh, BGPTable,
// Neighbors.
type ToR struct {
	*lab.ToR
	c *Cluster
}

func (c *Cluster) torDir() string { return filepath.Join(c.Dir, torDirName) }

func torZebra() string { return ToRNetns + "-zebra" }
func torBgpd() string  { return ToRNetns + "-bgpd" }

// StartToR wires the ToR and the client namespace and starts FRR; it
// returns once bgpd answers. On failure it removes what it made. StopToR
// (and Down) remove it.
func (c *Cluster) StartToR(ctx context.Context) (t *ToR, err error) {
	zebraArgs, err := lab.FRRCommand("zebra", c.torDir(), "zebra.conf")
	if err != nil {
		return nil, err
	}
	bgpdArgs, err := lab.FRRCommand("bgpd", c.torDir(), "bgpd.conf")
	if err != nil {
		return nil, err
	}
	if err := c.StopToR(); err != nil {
		return nil, fmt.Errorf("removing an earlier ToR: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.StopToR())
		}
	}()
	c.logf("ToR %s: %s on the node subnet (AS %d), client %s in %s behind it", ToRNetns, ToRAddr, ToRASN, ClientAddr, ClientNetns)
	if err := runAll(ctx, [][]string{
		{"ip", "netns", "add", ToRNetns},
		{"ip", "netns", "add", ClientNetns},
		{"ip", "link", "add", torPort, "type", "veth", "peer", "name", "eth0", "netns", ToRNetns},
		{"ip", "link", "set", torPort, "netns", FabricNetns},
		{"ip", "-n", FabricNetns, "link", "set", torPort, "master", fabricBridge, "up"},
		{"ip", "-n", ToRNetns, "addr", "add", netip.PrefixFrom(ToRAddr, nodeSubnet.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", ToRNetns, "link", "add", torClientLeg, "type", "veth", "peer", "name", clientLegPeer},
		{"ip", "-n", ToRNetns, "link", "set", clientLegPeer, "netns", ClientNetns},
		{"ip", "-n", ClientNetns, "link", "set", clientLegPeer, "name", "eth0"},
		{"ip", "-n", ToRNetns, "addr", "add", netip.PrefixFrom(ToRClientAddr, ClientSubnet.Bits()).String(), "dev", torClientLeg},
		{"ip", "-n", ClientNetns, "addr", "add", netip.PrefixFrom(ClientAddr, ClientSubnet.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", ToRNetns, "link", "set", "lo", "up"},
		{"ip", "-n", ToRNetns, "link", "set", "eth0", "up"},
		{"ip", "-n", ToRNetns, "link", "set", torClientLeg, "up"},
		{"ip", "-n", ClientNetns, "link", "set", "lo", "up"},
		{"ip", "-n", ClientNetns, "link", "set", "eth0", "up"},
		// The client's only way out is the ToR.
		{"ip", "-n", ClientNetns, "route", "add", "default", "via", ToRClientAddr.String()},
		{"ip", "netns", "exec", ToRNetns, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		// Hash flows over the equal paths by ports as well as addresses (a
		// switch's usual 5-tuple hash): with the default L3 hash every
		// connection of the one client to one address takes the same node.
		{"ip", "netns", "exec", ToRNetns, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"},
	}); err != nil {
		return nil, fmt.Errorf("ToR %s: %w", ToRNetns, err)
	}
	if err := os.MkdirAll(c.torDir(), 0o755); err != nil {
		return nil, err
	}
	for f, data := range map[string]string{"zebra.conf": "! written by nodebgp's cluster lab\nhostname " + ToRNetns + "\n", "bgpd.conf": torBgpdConfig()} {
		if err := os.WriteFile(filepath.Join(c.torDir(), f), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	nsenter := []string{"--net=/run/netns/" + ToRNetns}
	if _, err := startDaemon(daemonParams{Name: torZebra(), Dir: c.Dir, Nsenter: nsenter, Args: zebraArgs}); err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, torWait, func() bool { _, err := os.Stat(filepath.Join(c.torDir(), "zserv.api")); return err == nil }); err != nil {
		return nil, fmt.Errorf("ToR %s: zebra opened no socket (log %s): %w", ToRNetns, LogPath(c.Dir, torZebra()), err)
	}
	if _, err := startDaemon(daemonParams{Name: torBgpd(), Dir: c.Dir, Nsenter: nsenter, Args: bgpdArgs}); err != nil {
		return nil, err
	}
	t = &ToR{ToR: &lab.ToR{Number: 1, Name: ToRNetns, RouterID: ToRAddr, Addrs: []netip.Addr{ToRAddr}, Dir: c.torDir()}, c: c}
	var last error
	if err := waitUntil(ctx, torWait, func() bool { _, last = t.Vtysh(ctx, "show bgp summary json"); return last == nil }); err != nil {
		return nil, fmt.Errorf("ToR %s: bgpd does not answer (log %s): %w: %v", ToRNetns, t.Log(), err, last)
	}
	return t, nil
}

// torBgpdConfig: every node is an eBGP neighbor through the listen range,
// no policy needed (FRR refuses eBGP routes without one otherwise), ECMP
// over up to 16 nodes, and the client subnet announced.
func torBgpdConfig() string {
	return fmt.Sprintf(`! written by nodebgp's cluster lab (e2e/cluster/tor.go)
hostname %[1]s
router bgp %[2]d
 bgp router-id %[3]s
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as external
 bgp listen range %[4]s peer-group NODES
 address-family ipv4 unicast
  neighbor NODES activate
  network %[5]s
  maximum-paths 16
 exit-address-family
exit
`, ToRNetns, ToRASN, ToRAddr, nodeSubnet, ClientSubnet)
}

// Log is the path of the ToR's bgpd log.
func (t *ToR) Log() string { return LogPath(t.c.Dir, torBgpd()) }

// Dump is the ToR's addresses, routes and BGP state, for a failed test.
func (t *ToR) Dump(ctx context.Context) string {
	var b strings.Builder
	for _, argv := range [][]string{{"ip", "-n", ToRNetns, "-br", "addr"}, {"ip", "-n", ToRNetns, "route"}, {"ip", "-n", ClientNetns, "route"}} {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "=== %s (%v)\n%s", strings.Join(argv, " "), err, out)
	}
	for _, cmd := range []string{"show bgp summary", "show bgp ipv4 unicast"} {
		out, err := t.Vtysh(ctx, cmd)
		fmt.Fprintf(&b, "=== vtysh -c '%s' (%v)\n%s", cmd, err, out)
	}
	fmt.Fprintf(&b, "=== end of %s\n%s\n", t.Log(), logTail(t.Log(), 40))
	return b.String()
}

// StopToR stops the ToR's FRR by pid and removes its namespaces, the
// fabric's port to it and its files. Safe when there is none.
func (c *Cluster) StopToR() error {
	var errs []error
	for _, name := range []string{torBgpd(), torZebra()} {
		if err := stopDaemon(c.Dir, name, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range []string{ToRNetns, ClientNetns} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", ns, err, out))
			}
		}
	}
	// The veth's other end went with the ToR's namespace; this is for a
	// half-made one.
	if exec.Command("ip", "-n", FabricNetns, "link", "show", torPort).Run() == nil {
		if out, err := exec.Command("ip", "-n", FabricNetns, "link", "del", torPort).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %w: %s", torPort, err, out))
		}
	}
	if err := os.RemoveAll(c.torDir()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitUntil polls ok every 100 ms until it holds, for at most timeout.
func waitUntil(ctx context.Context, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
