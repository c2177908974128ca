package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// agentStopTimeout bounds a planned agent stop (SIGTERM, then SIGKILL).
const agentStopTimeout = 15 * time.Second

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

// AgentProcess is the name of node's agent process (pid file, log file).
func AgentProcess(node *Node) string { return "router-" + node.Name }

// AgentLog is the path of node's agent log.
func (l *Lab) AgentLog(node *Node) string {
	return LogPath(l.Opts.Dir, AgentProcess(node))
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
		l.dualStack(node)
	}
	l.logf("node %s: namespace %s, %s %s on %s", node.Name, node.Netns, nodeLink, node.IP, fabricBridge)
	for _, d := range []string{node.ConfDir, node.IPAMDir, node.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("node %s: creating %s: %w", node.Name, d, err)
		}
	}
	if err := l.ensureNodeUplink(ctx, node); err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	if err := ensureNodeIP6(ctx, node, l.Opts.Racks); err != nil {
		return nil, err
	}
	l.logf("node %s: Node object with InternalIP %s, podCIDRs %v", node.Name, nodeAddresses(node), node.PodCIDRs())
	if err := l.ensureNodeObject(ctx, node); err != nil {
		return nil, err
	}
	if !slices.Contains(l.Nodes, node) {
		l.Nodes = append(l.Nodes, node)
		slices.SortFunc(l.Nodes, func(a, b *Node) int { return a.Number - b.Number })
	}
	if err := l.installCNI(ctx, node); err != nil {
		return nil, err
	}
	if err := l.ensureAgent(node); err != nil {
		return nil, err
	}
	return node, l.saveState()
}

// RemoveNode takes node out of the lab the way a machine leaves: agent, pod,
// Node object, then the machine itself. It keeps going past errors.
func (l *Lab) RemoveNode(ctx context.Context, node *Node) error {
	errs := []error{l.StopAgent(node)}
	if node.Pod != nil {
		errs = append(errs, l.DeletePod(ctx, node))
	}
	errs = append(errs,
		l.DeleteNodeObject(ctx, node.Name),
		deleteNetns(ctx, node.Netns),
	)
	if err := os.RemoveAll(node.Dir); err != nil {
		errs = append(errs, fmt.Errorf("node %s: removing %s: %w", node.Name, node.Dir, err))
	}
	l.Nodes = slices.DeleteFunc(l.Nodes, func(n *Node) bool { return n == node })
	errs = append(errs, l.saveState())
	return errors.Join(errs...)
}

// nodeObject is the Node as kubelet registers it, with the pod CIDR that
// kube-controller-manager would allocate.
func nodeObject(node *Node) *corev1.Node {
	cidr := node.PodCIDR.String()
	var cidrs []string
	for _, c := range node.PodCIDRs() {
		cidrs = append(cidrs, c.String())
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: node.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname": node.Name,
				"kubernetes.io/os":       "linux",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: cidrs},
	}
}

// nodeStatus is what kubelet reports: its addresses and that it is Ready.
func nodeStatus(node *Node, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now)
	var addrs []corev1.NodeAddress
	for _, a := range nodeAddresses(node) {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a.String()})
	}
	return corev1.NodeStatus{
		Addresses: append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: node.Name}),
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "lab node",
			LastHeartbeatTime: t, LastTransitionTime: t,
		}},
	}
}

// ensureNodeObject creates or repairs node's Node object. Status is a
// subresource, so it is written by a second call, as kubelet does.
func (l *Lab) ensureNodeObject(ctx context.Context, node *Node) error {
	nodes := l.client.CoreV1().Nodes()
	want := nodeObject(node)
	if l.Opts.NodeAnnotations != nil {
		want.Annotations = l.Opts.NodeAnnotations(node)
	}
	got, err := nodes.Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s: reading the Node object: %w", node.Name, err)
	}
	exists := err == nil
	if exists && got.Spec.PodCIDR != want.Spec.PodCIDR {
		// spec.podCIDR cannot change once set; a stale object is replaced.
		if err := l.DeleteNodeObject(ctx, node.Name); err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		if _, err := nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("node %s: creating the Node object: %w", node.Name, err)
		}
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = nodeStatus(node, time.Now())
		_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s: writing the Node status: %w", node.Name, err)
	}
	return nil
}

// DeleteNodeObject deletes a Node object, as `kubectl delete node` would; a
// missing object is not an error.
func (l *Lab) DeleteNodeObject(ctx context.Context, name string) error {
	err := l.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s: deleting the Node object: %w", name, err)
	}
	return nil
}

// agentArgs is node's `router run` command line: its own CNI dirs, the lab's
// ServiceAccount kubeconfig, everything else at the product's defaults.
func (l *Lab) agentArgs(node *Node) []string {
	args := []string{
		l.Tools.Router, "run",
		"--kubeconfig", l.agentKubeconfig,
		"--hostname-override", node.Name,
		"--cni-conf-dir", node.ConfDir,
		"--cni-bridge", podBridge,
		"--ipam-data-dir", node.IPAMDir,
		"--cluster-cidr", l.clusterCIDRs(),
		"--routes-sync-period", l.Opts.RoutesSyncPeriod.String(),
		"--health-addr", "127.0.0.1:9779",
		"--gobgp-api-address", "127.0.0.1:50051",
		"--bgp-port", "179",
	}
	if l.Opts.AgentArgs != nil {
		args = append(args, l.Opts.AgentArgs(node)...)
	}
	return args
}

// StartAgent starts node's agent inside the node's namespace, detached, so
// it outlives the process that started it (make lab returns; the lab stays).
func (l *Lab) StartAgent(node *Node) error {
	l.logf("node %s: starting the agent (log %s)", node.Name, l.AgentLog(node))
	var env []string
	if l.Opts.AgentEnv != nil {
		env = l.Opts.AgentEnv(node)
	}
	_, err := StartProcess(ProcessParams{
		Name:  AgentProcess(node),
		Dir:   l.Opts.Dir,
		Netns: node.Netns,
		Args:  l.agentArgs(node),
		Env:   env,
	})
	if err != nil {
		return fmt.Errorf("node %s: starting the agent: %w", node.Name, err)
	}
	return nil
}

// StopAgent stops node's agent with SIGTERM: a planned stop, after which the
// data plane must keep working.
func (l *Lab) StopAgent(node *Node) error {
	if err := StopByName(l.Opts.Dir, AgentProcess(node), agentStopTimeout); err != nil {
		return fmt.Errorf("node %s: stopping the agent: %w", node.Name, err)
	}
	return nil
}

// AgentRunning reports whether node's agent process is alive.
func (l *Lab) AgentRunning(node *Node) bool {
	p, err := LoadProcess(l.Opts.Dir, AgentProcess(node))
	return err == nil && p.Alive()
}

// installCNI runs `router install-cni` on the node, as the DaemonSet's
// initContainer does before the agent starts: the plugins built by `make
// tools` stand in for the ones bundled in the image.
func (l *Lab) installCNI(ctx context.Context, node *Node) error {
	out, err := l.Exec(ctx, node.Netns, l.Tools.Router, "install-cni",
		"--source-dir", l.Tools.CNIBinDir,
		"--bin-dir", node.CNIBinDir,
		"--cni-conf-dir", node.ConfDir)
	if err != nil {
		return fmt.Errorf("node %s: installing CNI plugins: %w", node.Name, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		l.logf("node %s: install-cni: %s", node.Name, line)
	}
	return nil
}

func (l *Lab) ensureAgent(node *Node) error {
	if l.AgentRunning(node) {
		return nil
	}
	return l.StartAgent(node)
}
