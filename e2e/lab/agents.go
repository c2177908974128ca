package lab

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// agentStopTimeout bounds a planned agent stop (SIGTERM, then SIGKILL).
const agentStopTimeout = 15 * time.Second

// Agents are the nodes' `router run` processes, run as the DaemonSet runs
// them: inside the node's namespace, with the agents' ServiceAccount
// kubeconfig, the node's own CNI dirs, after `router install-cni`. Node N's
// agent is the lab process router-lab-nodeN (AgentProcess), log beside it.
// Neighbors reads an agent's BGP sessions through its own GoBGP API, as an
// operator does on the node.
type Agents struct {
	// Kubeconfig is the agents' kubeconfig: the nodebgp ServiceAccount's
	// token, bound to the product's own ClusterRole.
	Kubeconfig string

	procs Processes
	tools Tools
	opts  Options
}

// AgentProcess is the name of node's agent process (pid file, log file).
func AgentProcess(node *Node) string { return "router-" + node.Name }

// Log is the path of node's agent log.
func (a *Agents) Log(node *Node) string { return a.procs.Log(AgentProcess(node)) }

// Start starts node's agent inside the node's namespace, detached, so it
// outlives the process that started it (make lab returns; the lab stays).
func (a *Agents) Start(node *Node) error {
	a.opts.Logf("    node %s: starting the agent (log %s)", node.Name, a.Log(node))
	var env []string
	if a.opts.AgentEnv != nil {
		env = a.opts.AgentEnv(node)
	}
	p := ProcessParams{Name: AgentProcess(node), Dir: a.procs.Dir, Netns: node.Netns, Args: a.args(node), Env: env}
	if _, err := StartProcess(p); err != nil {
		return fmt.Errorf("node %s: starting the agent: %w", node.Name, err)
	}
	return nil
}

// Stop stops node's agent with SIGTERM: a planned stop, after which the
// data plane must keep working.
func (a *Agents) Stop(node *Node) error {
	if err := a.procs.Stop(AgentProcess(node), agentStopTimeout); err != nil {
		return fmt.Errorf("node %s: stopping the agent: %w", node.Name, err)
	}
	return nil
}

// Running reports whether node's agent process is alive.
func (a *Agents) Running(node *Node) bool { return a.procs.Running(AgentProcess(node)) }

// Process is node's agent process, from its pid file.
func (a *Agents) Process(node *Node) (*Process, error) { return a.procs.Get(AgentProcess(node)) }

// Neighbors reads node's BGP neighbors with `gobgp -j neighbor` inside the
// node: the agent's GoBGP API on the node's own loopback.
func (a *Agents) Neighbors(ctx context.Context, node *Node) ([]Neighbor, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := execIn(ctx, node.Netns, a.tools.Gobgp, "-j", "neighbor")
	if err != nil {
		return nil, fmt.Errorf("node %s: reading BGP neighbors: %w", node.Name, err)
	}
	nbs, err := parseNeighbors([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	return nbs, nil
}

// args is node's `router run` command line: its own CNI dirs, the lab's
// ServiceAccount kubeconfig, everything else at the product's defaults.
func (a *Agents) args(node *Node) []string {
	args := []string{
		a.tools.Router, "run",
		"--kubeconfig", a.Kubeconfig,
		"--hostname-override", node.Name,
		"--cni-conf-dir", node.ConfDir,
		"--cni-bridge", podBridge,
		"--ipam-data-dir", node.IPAMDir,
		"--cluster-cidr", a.clusterCIDRs(),
		"--routes-sync-period", a.opts.RoutesSyncPeriod.String(),
		"--health-addr", "127.0.0.1:9779",
		"--gobgp-api-address", "127.0.0.1:50051",
		"--bgp-port", "179",
	}
	if a.opts.AgentArgs != nil {
		args = append(args, a.opts.AgentArgs(node)...)
	}
	return args
}

// clusterCIDRs is the agents' --cluster-cidr: both families in a dual-stack
// lab.
func (a *Agents) clusterCIDRs() string {
	if a.opts.DualStack {
		return ClusterCIDR.String() + "," + ClusterCIDR6.String()
	}
	return ClusterCIDR.String()
}

// installCNI runs `router install-cni` on the node, as the DaemonSet's
// initContainer does before the agent starts: the plugins built by `make
// tools` stand in for the ones bundled in the image.
func (a *Agents) installCNI(ctx context.Context, node *Node) error {
	out, err := execIn(ctx, node.Netns, a.tools.Router, "install-cni",
		"--source-dir", a.tools.CNIBinDir,
		"--bin-dir", node.CNIBinDir,
		"--cni-conf-dir", node.ConfDir)
	if err != nil {
		return fmt.Errorf("node %s: installing CNI plugins: %w", node.Name, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		a.opts.Logf("    node %s: install-cni: %s", node.Name, line)
	}
	return nil
}

// ensure starts node's agent unless it runs.
func (a *Agents) ensure(node *Node) error {
	if a.Running(node) {
		return nil
	}
	return a.Start(node)
}
