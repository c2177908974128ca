package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The agent's fixed names (docs/architecture.md).
const (
	podBridge    = "nodebgp0"
	NetworkName  = "nodebgp"
	ConflistName = "10-nodebgp.conflist"
	podIfName    = "eth0"

	// conflistTimeout bounds the wait for an agent to write its CNI config:
	// it needs the API, its pod CIDR and its bridge first.
	conflistTimeout = 60 * time.Second
	cniTimeout      = 30 * time.Second
)

// PortMapping is one hostPort of a pod, in the shape of the CNI
// portMappings capability that the portmap plugin reads.
type PortMapping struct {
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// ParsePortMapping reads "hostPort:containerPort/protocol", e.g. "8080:80/tcp";
// the protocol defaults to tcp.
func ParsePortMapping(s string) (PortMapping, error) {
	ports, proto, found := strings.Cut(s, "/")
	if !found {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return PortMapping{}, fmt.Errorf("port mapping %q: protocol %q is not tcp, udp or sctp", s, proto)
	}
	host, container, found := strings.Cut(ports, ":")
	if !found {
		return PortMapping{}, fmt.Errorf("port mapping %q: want hostPort:containerPort[/protocol]", s)
	}
	hp, err := parsePort(host)
	if err != nil {
		return PortMapping{}, fmt.Errorf("port mapping %q: hostPort: %w", s, err)
	}
	cp, err := parsePort(container)
	if err != nil {
		return PortMapping{}, fmt.Errorf("port mapping %q: containerPort: %w", s, err)
	}
	return PortMapping{HostPort: hp, ContainerPort: cp, Protocol: proto}, nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%q is not a port in 1..65535", s)
	}
	return uint16(p), nil
}

func (p PortMapping) String() string {
	return fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, p.Protocol)
}

// Pod is a pod sandbox: a network namespace wired by the node's CNI config.
type Pod struct {
	Netns        string
	IP           netip.Addr
	IP6          netip.Addr // on a dual-stack node
	ContainerID  string
	PortMappings []PortMapping `json:",omitempty"`
}

// Pods wire pod sandboxes the way a container runtime does on a node: a
// network namespace per pod, then CNI ADD (and DEL) run by the lab's CNI
// driver, labcni, from inside the node's namespace with the conflist the
// node's agent wrote and the plugins its install-cni put in place.
type Pods struct {
	driver   string             // labcni
	agentLog func(*Node) string // named when the agent wrote no conflist
	logf     func(format string, args ...any)
}

// Add runs the pod's sandbox setup on node: a fresh namespace, then CNI ADD.
// It waits (bounded) for the agent to write the node's conflist, and sets
// node.Pod.
func (ps *Pods) Add(ctx context.Context, node *Node, portMappings ...PortMapping) (*Pod, error) {
	if node.Pod != nil {
		return nil, fmt.Errorf("node %s: already has pod %s", node.Name, node.Pod.Netns)
	}
	pod := &Pod{Netns: PodNetns(node.Number), ContainerID: PodNetns(node.Number), PortMappings: portMappings}
	if err := ps.WaitConflist(ctx, node, conflistTimeout); err != nil {
		return nil, err
	}
	// A namespace of that name is a leftover the lab no longer tracks.
	if netnsExists(pod.Netns) {
		_, _ = ps.cni(ctx, node, "del", pod)
		if err := deleteNetns(ctx, pod.Netns); err != nil {
			return nil, fmt.Errorf("pod %s: removing a leftover: %w", pod.Netns, err)
		}
	}
	ps.logf("    node %s: pod %s: CNI ADD with %s", node.Name, pod.Netns, filepath.Join(node.ConfDir, ConflistName))
	if err := ensureNetns(ctx, pod.Netns); err != nil {
		return nil, fmt.Errorf("pod %s: %w", pod.Netns, err)
	}
	out, err := ps.cni(ctx, node, "add", pod)
	if err != nil {
		return nil, fmt.Errorf("pod %s: CNI ADD on %s: %w", pod.Netns, node.Name, err)
	}
	if pod.IP, err = podIPFromResult(out); err != nil {
		return nil, fmt.Errorf("pod %s: %w", pod.Netns, err)
	}
	pod.IP6 = podIP6FromResult(out)
	node.Pod = pod
	return pod, nil
}

// Delete tears node's pod down as the runtime would: CNI DEL (so host-local
// releases the address and portmap removes its rules), then the namespace.
func (ps *Pods) Delete(ctx context.Context, node *Node) error {
	pod := node.Pod
	if pod == nil {
		return nil
	}
	var errs []error
	if _, err := ps.cni(ctx, node, "del", pod); err != nil {
		errs = append(errs, fmt.Errorf("pod %s: CNI DEL on %s: %w", pod.Netns, node.Name, err))
	}
	errs = append(errs, deleteNetns(ctx, pod.Netns))
	node.Pod = nil
	return errors.Join(errs...)
}

// WaitConflist waits until node's agent has written its CNI config.
func (ps *Pods) WaitConflist(ctx context.Context, node *Node, timeout time.Duration) error {
	path := filepath.Join(node.ConfDir, ConflistName)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: the agent wrote no %s within %s (agent log: %s)", node.Name, path, timeout, ps.agentLog(node))
		case <-tick.C:
		}
	}
}

// cni runs a CNI command for pod from inside node's namespace, where the
// runtime runs it, and returns its stdout (the CNI result on ADD).
func (ps *Pods) cni(ctx context.Context, node *Node, verb string, pod *Pod) ([]byte, error) {
	args := []string{"netns", "exec", node.Netns, ps.driver, verb,
		"--conf-dir", node.ConfDir,
		"--bin-dir", node.CNIBinDir,
		"--cache-dir", node.CacheDir,
		"--netns", filepath.Join(netnsRunDir, pod.Netns),
		"--container-id", pod.ContainerID,
		"--ifname", podIfName,
	}
	for _, pm := range pod.PortMappings {
		args = append(args, "--port-mapping", pm.String())
	}
	ctx, cancel := context.WithTimeout(ctx, cniTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("labcni %s: %w: %s", verb, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return stdout.Bytes(), nil
}

// labcniPath is where the lab keeps its CNI driver.
func labcniPath(dir string) string { return filepath.Join(dir, "bin", "labcni") }

// buildLabcni builds the CNI driver into the lab's bin dir with the go
// toolchain on PATH; without one it links the copy `make build` put in
// _output/bin.
func buildLabcni(ctx context.Context, repoRoot, path string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		prebuilt := filepath.Join(repoRoot, "_output", "bin", "labcni")
		if _, serr := os.Stat(prebuilt); serr != nil {
			return fmt.Errorf("building labcni: no go on PATH and no %s (run `make build`)", prebuilt)
		}
		_ = os.Remove(path)
		return os.Symlink(prebuilt, path)
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", path, "./e2e/cmd/labcni")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building labcni: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// podIPFromResult reads the pod's first IPv4 address from a CNI result.
func podIPFromResult(out []byte) (netip.Addr, error) {
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return netip.Addr{}, fmt.Errorf("reading the CNI result: %w", err)
	}
	for _, a := range res.IPs {
		p, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("CNI result: ips[].address %q: %w", a.Address, err)
		}
		if p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("CNI result has no IPv4 address: %s", strings.TrimSpace(string(out)))
}

// deletePods runs CNI DEL for every lab pod whose node can still run it, so
// host-local and portmap release what they hold the way a runtime would. The
// namespaces go afterwards either way.
func deletePods(ctx context.Context, dir string) error {
	names, err := labNamespaces(ctx)
	if err != nil {
		return err
	}
	if _, err := RepoRoot(); err != nil {
		// Without the repo there are no plugins to run DEL with; deleting
		// the namespaces still removes everything the plugins made.
		return nil
	}
	pods := &Pods{driver: labcniPath(dir), agentLog: func(*Node) string { return "" }, logf: func(string, ...any) {}}
	var errs []error
	for _, name := range names {
		num, ok := strings.CutPrefix(name, "lab-pod")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || validNodeNumber(n) != nil {
			continue
		}
		node := newNode(dir, n)
		if !netnsExists(node.Netns) || !fileExists(filepath.Join(node.ConfDir, ConflistName)) || !fileExists(pods.driver) {
			continue
		}
		pod := &Pod{Netns: name, ContainerID: name}
		if _, err := pods.cni(ctx, node, "del", pod); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: CNI DEL on %s: %w", name, node.Name, err))
		}
	}
	return errors.Join(errs...)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
