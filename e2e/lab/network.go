package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The lab's fixed names: lab-down and the tests find everything by them, and
// nothing outside the lab ever carries them.
const (
	netnsPrefix  = "lab-"
	FabricNetns  = "lab-fabric" // the "switch" every node and the control plane plug into
	fabricBridge = "fabric0"
	cpLink       = "labcp0" // root-namespace end of the control plane's veth
	cpPeer       = "vcp"    // its fabric end
	nodeLink     = "eth0"   // a node's uplink, named as on a real machine
	netnsRunDir  = "/var/run/netns"

	// MaxNodes keeps node addresses (10.199.1.10+N) inside the fabric /24.
	MaxNodes = 200
)

var (
	// FabricPrefix is the node subnet shared by the control plane and all nodes.
	FabricPrefix = netip.MustParsePrefix("10.199.1.0/24")
	// ControlPlaneAddr is where the apiserver listens, on labcp0 in the root namespace.
	ControlPlaneAddr = netip.MustParseAddr("10.199.1.1")
	// ClusterCIDR is the pod network all node pod CIDRs are carved from.
	ClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
)

// NodeName is the Kubernetes name and the network namespace of lab node n.
func NodeName(n int) string { return fmt.Sprintf("lab-node%d", n) }

// PodNetns is the network namespace of the pod on lab node n.
func PodNetns(n int) string { return fmt.Sprintf("lab-pod%d", n) }

// NodeIP is node n's InternalIP on the fabric: node1 is 10.199.1.11.
func NodeIP(n int) netip.Addr {
	b := FabricPrefix.Addr().As4()
	b[3] = byte(10 + n)
	return netip.AddrFrom4(b)
}

// NodePodCIDR is the pod CIDR the lab allocates to node n, as
// kube-controller-manager would: 10.244.n.0/24.
func NodePodCIDR(n int) netip.Prefix {
	b := ClusterCIDR.Addr().As4()
	b[2] = byte(n)
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

func validNodeNumber(n int) error {
	if n < 1 || n > MaxNodes {
		return fmt.Errorf("node number %d is outside 1..%d", n, MaxNodes)
	}
	return nil
}

// fabricPort is node n's veth end on the fabric bridge.
func fabricPort(n int) string { return fmt.Sprintf("vnode%d", n) }

// runCommand runs one command and returns its combined output; the error names
// the command and carries the output, so a failed step explains itself.
func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Network is the lab's wiring: the network namespaces standing in for the
// fabric switch (lab-fabric), the nodes, the ToRs and the pods; the veth
// links and bridges between them; the racks' subnets and the routes between
// them. Every step checks first, so building twice changes nothing; down
// removes every lab-* namespace and the root namespace's link.
type Network struct {
	Racks     int  // 0: one flat fabric without a ToR
	DualStack bool // the nodes and ToRs get IPv6 addresses too
}

// Exec runs a command inside a network namespace; the error carries the output.
func (Network) Exec(ctx context.Context, netns string, args ...string) (string, error) {
	return execIn(ctx, netns, args...)
}

func execIn(ctx context.Context, netns string, args ...string) (string, error) {
	return runCommand(ctx, "ip", append([]string{"netns", "exec", netns}, args...)...)
}

// ensure builds the fabric and, in a lab with racks, the racks' bridges and
// the control plane's route into them.
func (n Network) ensure(ctx context.Context) error {
	if err := ensureFabric(ctx); err != nil {
		return fmt.Errorf("building the fabric: %w", err)
	}
	if n.Racks == 0 {
		return nil
	}
	if err := ensureRackBridges(ctx, n.Racks); err != nil {
		return fmt.Errorf("building the racks: %w", err)
	}
	if err := ensureControlPlaneRackRoute(ctx, n.Racks); err != nil {
		return fmt.Errorf("building the racks: %w", err)
	}
	return nil
}

// ensureNode gives node its namespace and wires it into the flat fabric or
// into its rack, with its IPv6 address in a dual-stack lab.
func (n Network) ensureNode(ctx context.Context, node *Node) error {
	var err error
	if n.Racks == 0 {
		err = ensureNodeNetwork(ctx, node.Number)
	} else {
		err = ensureRackNodeNetwork(ctx, node, n.Racks)
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", node.Name, err)
	}
	return ensureNodeIP6(ctx, node, n.Racks)
}

// ip runs iproute2, inside netns when it is not empty.
func ip(ctx context.Context, netns string, args ...string) (string, error) {
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	return runCommand(ctx, "ip", args...)
}

func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsRunDir, name))
	return err == nil
}

func linkExists(ctx context.Context, netns, link string) bool {
	_, err := ip(ctx, netns, "link", "show", "dev", link)
	return err == nil
}

func ensureNetns(ctx context.Context, name string) error {
	if !netnsExists(name) {
		if _, err := ip(ctx, "", "netns", "add", name); err != nil {
			return fmt.Errorf("creating network namespace %s: %w", name, err)
		}
	}
	if _, err := ip(ctx, name, "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("setting lo up in %s: %w", name, err)
	}
	return nil
}

// ensureFabric builds the switch (lab-fabric with bridge fabric0) and plugs the
// root namespace into it with 10.199.1.1, where the control plane listens.
// Every step checks first, so a second run changes nothing.
func ensureFabric(ctx context.Context) error {
	if err := ensureNetns(ctx, FabricNetns); err != nil {
		return err
	}
	if !linkExists(ctx, FabricNetns, fabricBridge) {
		if _, err := ip(ctx, FabricNetns, "link", "add", fabricBridge, "type", "bridge"); err != nil {
			return fmt.Errorf("creating bridge %s in %s: %w", fabricBridge, FabricNetns, err)
		}
	}
	if _, err := ip(ctx, FabricNetns, "link", "set", fabricBridge, "up"); err != nil {
		return fmt.Errorf("setting bridge %s up: %w", fabricBridge, err)
	}
	// A half-made pair (one end lost in a crash) cannot be repaired; start over.
	if linkExists(ctx, "", cpLink) != linkExists(ctx, FabricNetns, cpPeer) {
		_, _ = ip(ctx, "", "link", "del", cpLink)
		_, _ = ip(ctx, FabricNetns, "link", "del", cpPeer)
	}
	if !linkExists(ctx, "", cpLink) {
		if _, err := ip(ctx, "", "link", "add", cpLink, "type", "veth", "peer", "name", cpPeer, "netns", FabricNetns); err != nil {
			return fmt.Errorf("creating veth %s/%s: %w", cpLink, cpPeer, err)
		}
	}
	cpAddr := netip.PrefixFrom(ControlPlaneAddr, FabricPrefix.Bits()).String()
	steps := [][]string{
		{"", "addr", "replace", cpAddr, "dev", cpLink},
		{"", "link", "set", cpLink, "up"},
		{FabricNetns, "link", "set", cpPeer, "master", fabricBridge},
		{FabricNetns, "link", "set", cpPeer, "up"},
	}
	for _, s := range steps {
		if _, err := ip(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("wiring the control plane into the fabric: %w", err)
		}
	}
	return nil
}

// ensureNodeNetwork gives node n its namespace and its eth0 on the fabric.
func ensureNodeNetwork(ctx context.Context, n int) error {
	return ensureUplink(ctx, n, fabricBridge, netip.PrefixFrom(NodeIP(n), FabricPrefix.Bits()))
}

// ensureUplink gives node n its namespace and its eth0, with addr, on bridge.
func ensureUplink(ctx context.Context, n int, bridge string, addr netip.Prefix) error {
	netns, port := NodeName(n), fabricPort(n)
	if err := ensureNetns(ctx, netns); err != nil {
		return err
	}
	if linkExists(ctx, FabricNetns, port) != linkExists(ctx, netns, nodeLink) {
		_, _ = ip(ctx, FabricNetns, "link", "del", port)
		_, _ = ip(ctx, netns, "link", "del", nodeLink)
	}
	if !linkExists(ctx, FabricNetns, port) {
		if _, err := ip(ctx, FabricNetns, "link", "add", port, "type", "veth", "peer", "name", nodeLink, "netns", netns); err != nil {
			return fmt.Errorf("creating veth %s/%s for %s: %w", port, nodeLink, netns, err)
		}
	}
	steps := [][]string{
		{FabricNetns, "link", "set", port, "master", bridge},
		{FabricNetns, "link", "set", port, "up"},
		{netns, "addr", "replace", addr.String(), "dev", nodeLink},
		{netns, "link", "set", nodeLink, "up"},
	}
	for _, s := range steps {
		if _, err := ip(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("wiring %s into the fabric: %w", netns, err)
		}
	}
	return nil
}

// deleteNetns removes a namespace the lab made. Processes still inside it (an
// agent whose pid file was lost in a crash) would keep it alive, so they are
// stopped first, by PID, and only those inside this namespace.
func deleteNetns(ctx context.Context, name string) error {
	if !netnsExists(name) {
		return nil
	}
	if err := stopNetnsProcesses(ctx, name, 5*time.Second); err != nil {
		return err
	}
	if _, err := ip(ctx, "", "netns", "del", name); err != nil {
		return fmt.Errorf("deleting network namespace %s: %w", name, err)
	}
	return nil
}

func stopNetnsProcesses(ctx context.Context, netns string, timeout time.Duration) error {
	pids, err := netnsPids(ctx, netns)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pids, err = netnsPids(ctx, netns); err != nil || len(pids) == 0 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

func netnsPids(ctx context.Context, netns string) ([]int, error) {
	out, err := ip(ctx, "", "netns", "pids", netns)
	if err != nil {
		return nil, fmt.Errorf("listing processes in %s: %w", netns, err)
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// labNamespaces lists the namespaces that carry the lab's prefix.
func labNamespaces(ctx context.Context) ([]string, error) {
	out, err := ip(ctx, "", "netns", "list")
	if err != nil {
		return nil, fmt.Errorf("listing network namespaces: %w", err)
	}
	return parseLabNetns(out), nil
}

// parseLabNetns reads `ip netns list` ("lab-node1 (id: 3)" per line) and keeps
// the lab's namespaces, pods first and the fabric last, the order in which
// they can be taken down without cutting a pod off from its node first.
func parseLabNetns(out string) []string {
	var pods, nodes, other []string
	fabric := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], netnsPrefix) {
			continue
		}
		switch name := fields[0]; {
		case name == FabricNetns:
			fabric = true
		case strings.HasPrefix(name, "lab-pod"):
			pods = append(pods, name)
		case strings.HasPrefix(name, "lab-node"):
			nodes = append(nodes, name)
		default:
			other = append(other, name)
		}
	}
	all := append(append(pods, nodes...), other...)
	if fabric {
		all = append(all, FabricNetns)
	}
	return all
}

// ensureToR gives the ToR its namespace and a leg in every rack.
func (Network) ensureToR(ctx context.Context, tor *ToR) error { return ensureToRNetwork(ctx, tor) }

// down removes every lab namespace and the root-namespace link, from any
// process: it finds them by their names.
func (Network) down(ctx context.Context) error {
	names, err := labNamespaces(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, deleteNetns(ctx, name))
	}
	if linkExists(ctx, "", cpLink) {
		if _, err := ip(ctx, "", "link", "del", cpLink); err != nil {
			errs = append(errs, fmt.Errorf("deleting link %s: %w", cpLink, err))
		}
	}
	return errors.Join(errs...)
}
