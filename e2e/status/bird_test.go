//go:build e2e

package status

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// A peer router for the prefix-limit alert: Debian's BIRD in a namespace of
// its own on the lab's fabric, announcing birdRoutes to one node over eBGP.
const (
	birdNetns = "lab-status-peer" // the lab's prefix: lab down removes it
	birdPort  = "vstpeer"         // its veth's end in the fabric namespace
	// fabricBridge is the fabric namespace's bridge (e2e/lab/network.go).
	fabricBridge = "fabric0"
	birdASN      = 65100
)

var (
	birdAddr   = netip.MustParseAddr("10.199.1.5") // below the nodes' 10.199.1.11...
	birdRoutes = []string{"10.60.1.0/24", "10.60.2.0/24", "10.60.3.0/24"}
)

// startBIRD wires birdNetns into the fabric, runs BIRD there peering with
// node and announcing routes, and removes both when the test ends (the
// process by its PID). It returns BIRD's address.
func startBIRD(ctx context.Context, t *testing.T, l *lab.Lab, node *lab.Node, dir string, routes []string) netip.Addr {
	t.Helper()
	removeBIRDNetns(ctx)
	t.Cleanup(func() { removeBIRDNetns(context.Background()) })
	steps := [][]string{
		{"netns", "add", birdNetns},
		{"-n", lab.FabricNetns, "link", "add", birdPort, "type", "veth", "peer", "name", "eth0", "netns", birdNetns},
		{"-n", lab.FabricNetns, "link", "set", birdPort, "master", fabricBridge, "up"},
		{"-n", birdNetns, "addr", "add", netip.PrefixFrom(birdAddr, lab.FabricPrefix.Bits()).String(), "dev", "eth0"},
		{"-n", birdNetns, "link", "set", "eth0", "up"},
		{"-n", birdNetns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := e2eutil.Run(ctx, "ip", s...); err != nil {
			t.Fatal(err)
		}
	}
	var static strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&static, "\troute %s blackhole;\n", r)
	}
	conf := filepath.Join(dir, "bird.conf")
	logPath := filepath.Join(dir, "bird.log")
	// Short error wait and connect retry: after the node's Cease over the
	// limit, BIRD comes back within seconds once the limit is raised.
	cfg := fmt.Sprintf(`router id %s;
log "%s" all;
protocol device {}
protocol static {
	ipv4;
%s}
protocol bgp node {
	local %s as %d;
	neighbor %s as %d;
	connect retry time 2;
	error wait time 1, 5;
	ipv4 { import none; export all; };
}
`, birdAddr, logPath, static.String(), birdAddr, birdASN, node.IP, clusterASN)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startInNetns(t, dir, "bird", birdNetns, []string{logPath}, "bird", "-f", "-c", conf, "-s", filepath.Join(dir, "bird.ctl"))
	return birdAddr
}

// removeBIRDNetns stops what runs in birdNetns (a crashed earlier run's
// BIRD), by PID, and deletes the namespace with its veth.
func removeBIRDNetns(ctx context.Context) {
	if _, err := os.Stat(filepath.Join("/var/run/netns", birdNetns)); err != nil {
		return
	}
	if out, err := e2eutil.Run(ctx, "ip", "netns", "pids", birdNetns); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_, _ = e2eutil.Run(ctx, "ip", "netns", "del", birdNetns)
}
