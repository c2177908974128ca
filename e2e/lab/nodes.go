package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
)

// Node is one lab node: a network namespace standing in for a machine, its
// Node object, its agent process and the directories a real node keeps in
// /etc/cni/net.d, /var/lib/cni/networks and /var/lib/cni.
type Node struct {
	Number  int
	Name    string // Kubernetes name and network namespace
	Netns   string
	IP      netip.Addr // InternalIP, on eth0
	Rack    int        // 0 in a lab without racks
	PodCIDR netip.Prefix
	// IP6 and PodCIDR6 are the node's IPv6 InternalIP and pod CIDR in a
	// dual-stack lab (Options.DualStack); zero otherwise.
	IP6      netip.Addr
	PodCIDR6 netip.Prefix
	Dir      string
	ConfDir  string
	IPAMDir  string
	CacheDir string
	// CNIBinDir is the node's /opt/cni/bin: `router install-cni` fills it, as
	// the DaemonSet's initContainer does, and pods are wired only from it.
	CNIBinDir string
	Pod       *Pod // nil when the node has no pod
}

func newNode(labDir string, n int) *Node {
	dir := filepath.Join(labDir, fmt.Sprintf("node%d", n))
	return &Node{
		Number:   n,
		Name:     NodeName(n),
		Netns:    NodeName(n),
		IP:       NodeIP(n),
		PodCIDR:  NodePodCIDR(n),
		Dir:      dir,
		ConfDir:  filepath.Join(dir, "net.d"),
		IPAMDir:  filepath.Join(dir, "ipam"),
		CacheDir: filepath.Join(dir, "cni-cache"),

		CNIBinDir: filepath.Join(dir, "cni-bin"),
	}
}

// newNode is node n of this lab: in its rack when the lab has racks, with
// its IPv6 facts when the lab is dual-stack.
func (l *Lab) newNode(n int) *Node {
	node := newNode(l.Opts.Dir, n)
	if l.Opts.Racks > 0 {
		node.Rack = NodeRack(n, l.Opts.Racks)
		node.IP = RackNodeIP(node.Rack, n)
	}
	if l.Opts.DualStack {
		rack := max(node.Rack, 1)
		node.IP6, node.PodCIDR6 = RackNodeIP6(rack, node.Number), NodePodCIDR6(node.Number)
	}
	return node
}

// NodeByName returns the lab node with that name, or nil.
func (l *Lab) NodeByName(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (l *Lab) nodeByNumber(n int) *Node {
	for _, node := range l.Nodes {
		if node.Number == n {
			return node
		}
	}
	return nil
}

// ToRByName returns the lab ToR with that name, or nil.
func (l *Lab) ToRByName(name string) *ToR {
	for _, t := range l.ToRs {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// AddNode brings node n up the way a machine joins a cluster: network first,
// then the Node object (kubelet registers, the controller manager allocates
// the pod CIDR), then the agent. Calling it for a node that is up changes
// nothing.
func (l *Lab) AddNode(ctx context.Context, n int) (*Node, error) {
	if err := validNodeNumber(n); err != nil {
		return nil, err
	}
	node := l.nodeByNumber(n)
	if node == nil {
		node = l.newNode(n)
	}
	l.logf("node %s: namespace %s, %s %s on %s", node.Name, node.Netns, nodeLink, node.IP, fabricBridge)
	for _, d := range []string{node.ConfDir, node.IPAMDir, node.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("node %s: creating %s: %w", node.Name, d, err)
		}
	}
	if err := l.Net.ensureNode(ctx, node); err != nil {
		return nil, err
	}
	l.logf("node %s: Node object with InternalIP %s, podCIDRs %v", node.Name, nodeAddresses(node), node.PodCIDRs())
	var annotations map[string]string
	if l.Opts.NodeAnnotations != nil {
		annotations = l.Opts.NodeAnnotations(node)
	}
	l.nodeStep(node, NodeRegistering)
	if err := l.CP.EnsureNode(ctx, node, annotations); err != nil {
		return nil, err
	}
	if !slices.Contains(l.Nodes, node) {
		l.Nodes = append(l.Nodes, node)
		slices.SortFunc(l.Nodes, func(a, b *Node) int { return a.Number - b.Number })
	}
	if err := l.Agents.installCNI(ctx, node); err != nil {
		return nil, err
	}
	if !l.Agents.Running(node) {
		l.nodeStep(node, AgentStarting)
	}
	if err := l.Agents.ensure(node); err != nil {
		return nil, err
	}
	return node, l.saveState()
}

func (l *Lab) nodeStep(node *Node, step NodeStep) {
	if l.Opts.OnNodeStep != nil {
		l.Opts.OnNodeStep(node, step)
	}
}

// RemoveNode takes node out of the lab the way a machine leaves: agent, pod,
// Node object, then the machine itself. It keeps going past errors.
func (l *Lab) RemoveNode(ctx context.Context, node *Node) error {
	errs := []error{l.Agents.Stop(node)}
	if node.Pod != nil {
		errs = append(errs, l.DeletePod(ctx, node))
	}
	errs = append(errs,
		l.CP.DeleteNode(ctx, node.Name),
		deleteNetns(ctx, node.Netns),
	)
	if err := os.RemoveAll(node.Dir); err != nil {
		errs = append(errs, fmt.Errorf("node %s: removing %s: %w", node.Name, node.Dir, err))
	}
	l.Nodes = slices.DeleteFunc(l.Nodes, func(n *Node) bool { return n == node })
	errs = append(errs, l.saveState())
	return errors.Join(errs...)
}

// CreatePod wires a pod on node (Pods.Add) and records it in the lab's
// state, so that a later process finds it.
func (l *Lab) CreatePod(ctx context.Context, node *Node, portMappings ...PortMapping) (*Pod, error) {
	pod, err := l.Pods.Add(ctx, node, portMappings...)
	if err != nil {
		return nil, err
	}
	return pod, l.saveState()
}

// DeletePod removes node's pod (Pods.Delete) and its record.
func (l *Lab) DeletePod(ctx context.Context, node *Node) error {
	return errors.Join(l.Pods.Delete(ctx, node), l.saveState())
}
