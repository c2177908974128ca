// Package lab is a real cluster's network on one machine: a kube-apiserver, one
// network namespace per node on a shared fabric bridge, the nodebgp agent in
// each, and a pod per node wired by real CNI plugins. `make lab` and the e2e
// tests both drive it through Up and Down.
//
// A Lab composes one type per idea, each in its own file:
//
//	ControlPlane  etcd, kube-apiserver, tokens and kubeconfigs, Node objects (controlplane.go, nodeobjects.go)
//	Network       namespaces, veths, bridges, racks and their routes (network.go, racks.go, dualstack.go)
//	Processes     daemons by name: start detached, stop or kill by PID, logs (process.go)
//	Agents        each node's `router run` and its GoBGP API (agents.go, gobgp.go)
//	Pods          pod sandboxes wired by CNI ADD/DEL (pods.go)
//	ToR           an FRR router: config, vtysh, its BGP view (tor.go, torbgp.go, torconfig.go, torjson.go)
//
// Lab itself only orders them: Up, AddNode, CreatePod, Status, Dump, Down.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DefaultDir is the lab state dir when neither Options.Dir nor LAB_DIR is set.
	DefaultDir = "/tmp/nodebgp-lab"

	markerFile = ".nodebgp-lab" // proves the lab made the dir, before Down removes it
	stateFile  = "lab.json"

	apiServerPort  = 6443
	etcdClientPort = 12379 // off etcd's defaults, so a system etcd cannot collide
	etcdPeerPort   = 12380

	agentNamespace      = "kube-system"
	agentServiceAccount = "nodebgp"
	rbacManifest        = "daemonset/base/rbac.yaml"
	buildTimeout        = 5 * time.Minute
	reuseProbeTimeout   = 5 * time.Second
)

// Options shape a lab; zero values take the defaults.
type Options struct {
	Dir              string        // state dir; default $LAB_DIR, else /tmp/nodebgp-lab
	Nodes            int           // default 3
	RoutesSyncPeriod time.Duration // the agents' --routes-sync-period; default 5s
	Logf             func(format string, args ...any)

	// Racks > 0 puts the nodes in that many racks (dealt round-robin, see
	// NodeRack) behind FRR ToRs; 0 is one flat fabric without a ToR.
	Racks int
	// ToRs is the number of FRR ToRs (lab-tor1...), each with a leg in every
	// rack; default 1 when Racks > 0.
	ToRs int
	// ToRPasswords are TCP MD5 passwords the ToRs require from some nodes, by
	// node number; those nodes are configured on the ToRs as explicit
	// neighbors, the others are accepted through the racks' listen ranges.
	ToRPasswords map[int]string
	// AgentArgs, when set, adds arguments to a node's `router run`.
	AgentArgs func(node *Node) []string
	// AgentEnv, when set, adds variables (NAME=value) to a node's agent's
	// environment (GOMEMLIMIT, say).
	AgentEnv func(node *Node) []string
	// NodeAnnotations, when set, are written on a node's Node object when the
	// lab creates it.
	NodeAnnotations func(node *Node) map[string]string
	// ExpectSessions, when set, are the peers (nodes or ToRs, by address)
	// each node must have an established BGP session with before Up
	// returns; nil means every other node, the iBGP mesh. Agents that run
	// without iBGP (--enable-ibgp=false) peer only with their ToRs.
	ExpectSessions func(node *Node) []netip.Addr
	// DualStack gives every node an IPv6 address (NodeIP6) beside its IPv4
	// one and an IPv6 pod CIDR (NodePodCIDR6), so that pods get both
	// families; in a lab with racks the ToRs route and speak IPv6 too. Off,
	// the lab is IPv4 only.
	DualStack bool
	// Router, when set, is the agent binary the lab runs instead of
	// <repo>/_output/bin/router: a benchmark compares two builds this way.
	Router string
	// OnNodeStep, when set, is called as AddNode passes each NodeStep, so a
	// benchmark can time what follows from the exact moment.
	OnNodeStep func(node *Node, step NodeStep)
}

// NodeStep is a moment of AddNode that a benchmark times from.
type NodeStep int

const (
	// NodeRegistering: the Node object is about to be created (kubelet
	// registers, the pod CIDR allocated, then its status with the
	// InternalIP); the agents' informers see it from the create on.
	NodeRegistering NodeStep = iota
	// AgentStarting: the node's agent process is about to be started.
	AgentStarting
)

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = os.Getenv("LAB_DIR")
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("lab dir %s: %w", o.Dir, err)
	}
	o.Dir = dir
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return o, fmt.Errorf("lab nodes: %d is outside 1..%d", o.Nodes, MaxNodes)
	}
	if o.RoutesSyncPeriod == 0 {
		o.RoutesSyncPeriod = 5 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o.rackDefaults()
}

// Lab is a running lab: the parts it is made of, and its nodes and ToRs.
type Lab struct {
	Opts   Options
	Tools  Tools
	CP     *ControlPlane
	Net    Network
	Procs  Processes
	Agents *Agents
	Pods   *Pods
	Nodes  []*Node
	ToRs   []*ToR // empty unless Options.Racks > 0

	repoRoot string
	steps    int
}

// newLab is a lab with opts whose parts are not running yet.
func newLab(opts Options, root string, tools Tools) *Lab {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	l := &Lab{
		Opts:     opts,
		Tools:    tools,
		Net:      Network{Racks: opts.Racks, DualStack: opts.DualStack},
		Procs:    Processes{Dir: opts.Dir},
		ToRs:     newToRs(opts),
		repoRoot: root,
	}
	l.Agents = &Agents{Kubeconfig: filepath.Join(opts.Dir, "agent.kubeconfig"), procs: l.Procs, tools: tools, opts: opts}
	l.Pods = &Pods{driver: labcniPath(opts.Dir), agentLog: l.Agents.Log, logf: opts.Logf}
	return l
}

// state is what lab.json keeps, so a fresh process (make lab-down, lab
// status, a second make lab) finds the running lab.
type state struct {
	APIServerURL    string      `json:"apiServerURL"`
	AdminKubeconfig string      `json:"adminKubeconfig"`
	AgentKubeconfig string      `json:"agentKubeconfig"`
	Nodes           []nodeState `json:"nodes"`
	Racks           int         `json:"racks,omitempty"`
	ToRs            int         `json:"tors,omitempty"`
}

type nodeState struct {
	Number int  `json:"number"`
	Pod    *Pod `json:"pod,omitempty"`
}

func (l *Lab) step(format string, args ...any) {
	l.steps++
	l.Opts.Logf("==> [%d] "+format, append([]any{l.steps}, args...)...)
}

func (l *Lab) logf(format string, args ...any) { l.Opts.Logf("    "+format, args...) }

// BinDir holds links to gobgp, kubectl and router, and the labcni tool: put
// it on PATH to look around the lab.
func (l *Lab) BinDir() string { return filepath.Join(l.Opts.Dir, "bin") }

// Up brings the lab up and returns once every node's BGP sessions are
// established. It reuses a lab that is already up (its control plane answers),
// completing whatever is missing, and removes the leftovers of a run it cannot
// reuse. On failure it leaves the lab as it is for inspection; Down removes it.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	l := newLab(opts, root, Tools{})
	l.step("checking tools")
	if l.Tools, err = FindTools(root); err != nil {
		return nil, err
	}
	if opts.Router != "" {
		if err := checkExecutable(opts.Router); err != nil {
			return nil, err
		}
		l.Tools.Router = opts.Router
	}
	l.Agents.tools = l.Tools
	if !l.tryReuse(ctx) {
		if err := l.removeLeftovers(ctx); err != nil {
			return nil, err
		}
	}
	l.step("preparing %s", opts.Dir)
	if err := l.prepareDir(ctx); err != nil {
		return nil, fmt.Errorf("preparing the lab dir: %w", err)
	}
	l.step("fabric: namespace %s, bridge %s, %s on %s", FabricNetns, fabricBridge, ControlPlaneAddr, cpLink)
	if opts.Racks > 0 {
		l.step("racks: %d (bridges fabric0..fabric%d), ToRs: %d", opts.Racks, opts.Racks-1, opts.ToRs)
	}
	if err := l.Net.ensure(ctx); err != nil {
		return nil, err
	}
	for _, tor := range l.ToRs {
		l.step("ToR %s: FRR bgpd+zebra, AS %d, %s", tor.Name, ToRASN, joinAddrs(tor.Addrs))
		if err := l.Net.ensureToR(ctx, tor); err != nil {
			return nil, fmt.Errorf("ToR %s: %w", tor.Name, err)
		}
		if err := tor.ensure(ctx, torPeers(opts)); err != nil {
			return nil, fmt.Errorf("ToR %s: %w", tor.Name, err)
		}
	}
	// Also when reused: StartControlPlane keeps processes that run with the
	// same flags, and the agents' token is renewed for agents (re)started now.
	if err := l.startControlPlane(ctx); err != nil {
		return nil, err
	}
	for n := 1; n <= opts.Nodes; n++ {
		l.step("node %s", NodeName(n))
		if _, err := l.AddNode(ctx, n); err != nil {
			return nil, fmt.Errorf("adding node %s: %w", NodeName(n), err)
		}
	}
	for _, node := range l.Nodes {
		if node.Pod != nil {
			continue
		}
		l.step("pod %s on %s", PodNetns(node.Number), node.Name)
		if _, err := l.CreatePod(ctx, node); err != nil {
			return nil, fmt.Errorf("creating the pod on %s: %w", node.Name, err)
		}
	}
	l.step("waiting for BGP sessions between all nodes (up to %s)", sessionTimeout)
	if err := l.WaitSessions(ctx, sessionTimeout); err != nil {
		return nil, err
	}
	return l, nil
}

// tryReuse adopts the nodes and pods recorded in lab.json if the lab's
// control plane answers; a lab whose control plane is gone is not reused.
func (l *Lab) tryReuse(ctx context.Context) bool {
	st, err := readState(l.Opts.Dir)
	if err != nil {
		return false
	}
	if st.Racks != l.Opts.Racks || st.ToRs != l.Opts.ToRs {
		l.logf("the lab in %s has %d racks and %d ToRs, not %d and %d; starting over",
			l.Opts.Dir, st.Racks, st.ToRs, l.Opts.Racks, l.Opts.ToRs)
		return false
	}
	if err := l.adopt(st); err != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, reuseProbeTimeout)
	defer cancel()
	client, err := l.CP.admin()
	if err != nil {
		return false
	}
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(pctx); err != nil {
		l.logf("the lab in %s does not answer (%v); starting over", l.Opts.Dir, err)
		return false
	}
	l.step("reusing the lab in %s (control plane %s)", l.Opts.Dir, l.CP.URL)
	// A pod whose namespace is gone (deleted by hand) is created again.
	for _, node := range l.Nodes {
		if node.Pod != nil && !netnsExists(node.Pod.Netns) {
			node.Pod = nil
		}
	}
	return true
}

// adopt fills l from a saved state: nodes, pods, control plane.
func (l *Lab) adopt(st state) error {
	l.CP = &ControlPlane{Dir: l.Opts.Dir, URL: st.APIServerURL, AdminKubeconfig: st.AdminKubeconfig}
	if _, err := l.CP.admin(); err != nil {
		return err
	}
	l.Agents.Kubeconfig = st.AgentKubeconfig
	l.Nodes = nil
	for _, ns := range st.Nodes {
		if validNodeNumber(ns.Number) != nil {
			return fmt.Errorf("%s: node number %d is invalid", stateFile, ns.Number)
		}
		node := l.newNode(ns.Number)
		node.Pod = ns.Pod
		l.Nodes = append(l.Nodes, node)
	}
	return nil
}

// removeLeftovers takes down whatever an earlier run left behind.
func (l *Lab) removeLeftovers(ctx context.Context) error {
	names, err := labNamespaces(ctx)
	if err != nil {
		return err
	}
	_, dirErr := os.Stat(l.Opts.Dir)
	if len(names) == 0 && !linkExists(ctx, "", cpLink) && dirErr != nil {
		return nil
	}
	l.step("removing leftovers of an earlier run (%s)", strings.Join(append(names, l.Opts.Dir), ", "))
	l.Nodes, l.CP = nil, nil
	if err := Down(ctx, l.Opts.Dir); err != nil {
		return fmt.Errorf("removing leftovers of an earlier run: %w", err)
	}
	return nil
}

// prepareDir makes the state dir and fills bin/ with labcni and links to the
// tools, so one PATH entry gives an operator everything the lab uses.
func (l *Lab) prepareDir(ctx context.Context) error {
	if err := os.MkdirAll(l.BinDir(), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.Opts.Dir, markerFile), []byte("made by nodebgp's lab; removed by `make lab-down`\n"), 0o644); err != nil {
		return err
	}
	links := map[string]string{"gobgp": l.Tools.Gobgp, "kubectl": l.Tools.Kubectl, "router": l.Tools.Router}
	for name, target := range links {
		link := filepath.Join(l.BinDir(), name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return buildLabcni(ctx, l.repoRoot, l.Pods.driver)
}

// startControlPlane starts etcd and kube-apiserver on 10.199.1.1, applies the
// product's RBAC manifest and mints the agents' ServiceAccount kubeconfig, so
// the agents run with exactly the privileges an operator would grant.
func (l *Lab) startControlPlane(ctx context.Context) error {
	l.step("control plane: etcd and kube-apiserver on https://%s:%d", ControlPlaneAddr, apiServerPort)
	params := ControlPlaneParams{
		Dir:            l.Opts.Dir,
		Tools:          l.Tools,
		Address:        ControlPlaneAddr,
		Port:           apiServerPort,
		EtcdClientPort: etcdClientPort,
		EtcdPeerPort:   etcdPeerPort,
	}
	cp, err := StartControlPlane(ctx, params)
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	l.CP = cp
	manifest := filepath.Join(l.repoRoot, rbacManifest)
	l.step("RBAC: %s; ServiceAccount %s/%s token for the agents", rbacManifest, agentNamespace, agentServiceAccount)
	if err := cp.ApplyRBAC(ctx, manifest); err != nil {
		return fmt.Errorf("applying %s: %w", manifest, err)
	}
	l.step("CRD: %s", CRDManifest)
	if err := cp.InstallCRD(ctx, filepath.Join(l.repoRoot, CRDManifest)); err != nil {
		return err
	}
	if err := cp.AgentKubeconfig(ctx, agentNamespace, agentServiceAccount, l.Agents.Kubeconfig); err != nil {
		return fmt.Errorf("agent kubeconfig for %s/%s: %w", agentNamespace, agentServiceAccount, err)
	}
	return l.saveState()
}

func (l *Lab) saveState() error {
	if l.CP == nil {
		return nil
	}
	st := state{APIServerURL: l.CP.URL, AdminKubeconfig: l.CP.AdminKubeconfig, AgentKubeconfig: l.Agents.Kubeconfig,
		Racks: l.Opts.Racks, ToRs: l.Opts.ToRs}
	for _, node := range l.Nodes {
		st.Nodes = append(st.Nodes, nodeState{Number: node.Number, Pod: node.Pod})
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", stateFile, err)
	}
	return writeFileAtomic(filepath.Join(l.Opts.Dir, stateFile), append(data, '\n'))
}

func readState(dir string) (state, error) {
	var st state
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, fmt.Errorf("reading the lab state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// Load finds the lab that Up left running in dir ("" = the default), for
// commands run from a fresh process (lab status).
func Load(dir string) (*Lab, error) {
	opts, err := Options{Dir: dir}.withDefaults()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	st, err := readState(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("no lab in %s (run `make lab`): %w", opts.Dir, err)
	}
	opts.Racks, opts.ToRs = st.Racks, st.ToRs
	// Missing tools are not fatal here: status still reads what it can.
	tools, _ := FindTools(root)
	l := newLab(opts, root, tools)
	if err := l.adopt(st); err != nil {
		return nil, err
	}
	return l, nil
}

// Down removes everything a lab made in dir ("" = the default), from any
// process: agents (SIGTERM), the control plane, CNI DEL of the pods, the lab's
// namespaces and link, and the dir. It keeps going past errors and returns
// them all.
func Down(ctx context.Context, dir string) error {
	opts, err := Options{Dir: dir}.withDefaults()
	if err != nil {
		return err
	}
	dir = opts.Dir
	var errs []error
	agents, _ := filepath.Glob(filepath.Join(dir, pidsDir, "router-*.pid"))
	for _, pidFile := range agents {
		errs = append(errs, StopByName(dir, strings.TrimSuffix(filepath.Base(pidFile), ".pid"), agentStopTimeout))
	}
	errs = append(errs, stopFRR(dir))
	if _, err := os.Stat(dir); err == nil {
		errs = append(errs, StopControlPlane(dir))
	}
	errs = append(errs, deletePods(ctx, dir))
	errs = append(errs, Network{}.down(ctx))
	errs = append(errs, removeLabDir(dir))
	return errors.Join(errs...)
}

// removeLabDir removes dir only if the lab made it (its marker is there) or it
// is empty: LAB_DIR could point anywhere.
func removeLabDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !fileExists(filepath.Join(dir, markerFile)) {
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("refusing to remove %s: it has no %s, so the lab did not make it", dir, markerFile)
		}
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the lab dir %s: %w", dir, err)
	}
	return nil
}
