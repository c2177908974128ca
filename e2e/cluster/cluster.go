// Package cluster runs a Kubernetes cluster with real worker nodes on one
// machine, for nodebgp's install path: etcd, kube-apiserver,
// kube-controller-manager (allocating pod CIDRs) and kube-scheduler in the
// root namespace, and worker nodes that each run containerd + runc + kubelet +
// kube-proxy in their own network, mount and UTS namespace. The network
// add-on is not part of it: nodes stay NotReady until one is applied, as
// after kubeadm init.
//
// Its names and addresses are its own, so it runs beside the netns lab
// (e2e/lab: lab-* namespaces, 10.199.1.0/24, etcd 12379, apiserver 6443):
// namespaces clu-*, subnet 10.198.1.0/24, etcd 127.0.0.1:22379, apiserver
// 10.198.1.1:16443, state in /tmp/nodebgp-cluster, cgroups nodebgp-cluster.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// Prefix starts every namespace and link name the cluster makes.
	Prefix       = "clu-"
	FabricNetns  = Prefix + "fabric"
	fabricBridge = "br0"
	cpLink       = Prefix + "cp" // root namespace end of the control plane's veth

	DefaultDir = "/tmp/nodebgp-cluster"

	APIServerPort  = 16443
	EtcdClientPort = 22379
	EtcdPeerPort   = 22380
	KCMPort        = 20257
	SchedulerPort  = 20259

	// MaxNodes bounds the node names the API server knows a token for.
	MaxNodes = 6

	// DefaultClusterCIDR is kubeadm's usual --pod-network-cidr, what the
	// kubeadm overlay assumes. Pod addresses exist only inside clu-*
	// namespaces, never in the root one.
	DefaultClusterCIDR = "10.244.0.0/16"
)

// ControlPlaneAddr is the root namespace's address on the cluster subnet.
var ControlPlaneAddr = netip.MustParseAddr("10.198.1.1")

// Tools are the binaries the cluster runs.
type Tools struct {
	Dir   string // bin/kube-apiserver, bin/kubelet, ... (hack/build-tools.sh --cluster)
	Pause string // the sandbox process (e2e/cmd/clusterpause)
}

func (t Tools) bin(name string) string { return filepath.Join(t.Dir, "bin", name) }

// Options configure a cluster.
type Options struct {
	Dir         string // default DefaultDir
	Nodes       int    // worker nodes at Up; default 3
	ClusterCIDR string // kube-controller-manager --cluster-cidr; default DefaultClusterCIDR
	Tools       Tools
	// RouterImage, when set, is saved from podman and imported into every
	// node under the same name (make image tags ghcr.io/nodebgp/router:<version>).
	RouterImage string
	Log         io.Writer // progress lines; default os.Stdout
}

// Cluster is a running cluster.
type Cluster struct {
	Options
	tokens    map[string]string
	extraTags [][2]string
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.Log, "cluster: "+format+"\n", args...)
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = DefaultClusterCIDR
	}
	if o.Log == nil {
		o.Log = os.Stdout
	}
}

// Up removes what an earlier run left, then brings the cluster up: fabric,
// control plane, images, nodes, and waits until every node has registered
// and has a pod CIDR. On failure it tears down what it made.
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	o.defaults()
	if o.Nodes > MaxNodes {
		return nil, fmt.Errorf("cluster: at most %d nodes", MaxNodes)
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(o.Tools.bin(b)); err != nil {
			return nil, fmt.Errorf("cluster: %s missing (run hack/build-tools.sh --cluster, or make cluster): %w", b, err)
		}
	}
	for _, b := range []string{"containerd", "runc", "ctr", "podman", "etcd", "nsenter", "unshare", "iptables", "conntrack"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("cluster: %s missing (make deps CLUSTER_DEPS=1 installs it): %w", b, err)
		}
	}
	c = &Cluster{Options: o}
	start := time.Now()
	if err := Down(o); err != nil {
		return nil, fmt.Errorf("cluster: removing an earlier run's leftovers: %w", err)
	}
	defer func() {
		if err != nil {
			c.logf("up failed, tearing down: %v", err)
			if derr := Down(o); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	if err := c.prepareDirs(); err != nil {
		return nil, err
	}
	c.logf("fabric %s, control plane address %s", FabricNetns, ControlPlaneAddr)
	if err := c.fabric(ctx); err != nil {
		return nil, err
	}
	c.logf("control plane: etcd 127.0.0.1:%d, kube-apiserver %s, kube-controller-manager (--cluster-cidr=%s), kube-scheduler", EtcdClientPort, c.APIServerURL(), c.ClusterCIDR)
	if err := c.startControlPlane(ctx); err != nil {
		return nil, err
	}
	c.logf("control plane ready after %v", time.Since(start).Round(time.Millisecond))
	if err := c.buildImages(ctx); err != nil {
		return nil, err
	}
	for i := 1; i <= o.Nodes; i++ {
		if err := c.AddNode(ctx, i); err != nil {
			return nil, err
		}
	}
	if err := c.WaitRegistered(ctx, o.Nodes, 3*time.Minute); err != nil {
		return nil, err
	}
	c.logf("up in %v: %d nodes registered with pod CIDRs (NotReady until a network add-on runs)", time.Since(start).Round(time.Millisecond), o.Nodes)
	return c, nil
}

// Load returns the cluster a `cluster up` in another process made.
func Load(o Options) (*Cluster, error) {
	o.defaults()
	c := &Cluster{Options: o}
	if _, err := os.Stat(c.AdminKubeconfig()); err != nil {
		return nil, fmt.Errorf("no cluster in %s: %w", o.Dir, err)
	}
	return c, nil
}

func (c *Cluster) prepareDirs() error {
	for _, d := range []string{c.Dir, filepath.Join(c.Dir, "ns"), filepath.Join(c.Dir, "nodes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "MADE-BY"), []byte("nodebgp's cluster lab (e2e/cluster); removed by `make cluster-down`\n"), 0o644); err != nil {
		return err
	}
	// unshare --mount=<file> needs the file on a mount that is not shared (as
	// ip netns does for /run/netns): a private bind of <Dir>/ns onto itself.
	ns := filepath.Join(c.Dir, "ns")
	if err := syscall.Mount(ns, ns, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", ns, err)
	}
	if err := syscall.Mount("", ns, "", syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making %s private: %w", ns, err)
	}
	return nil
}

func (c *Cluster) fabric(ctx context.Context) error {
	return runAll(ctx, [][]string{
		{"ip", "netns", "add", FabricNetns},
		{"ip", "-n", FabricNetns, "link", "add", fabricBridge, "type", "bridge"},
		{"ip", "-n", FabricNetns, "link", "set", fabricBridge, "up"},
		{"ip", "-n", FabricNetns, "link", "set", "lo", "up"},
		{"ip", "link", "add", cpLink, "type", "veth", "peer", "name", Prefix + "cpb"},
		{"ip", "link", "set", Prefix + "cpb", "netns", FabricNetns},
		{"ip", "-n", FabricNetns, "link", "set", Prefix + "cpb", "master", fabricBridge, "up"},
		{"ip", "addr", "add", ControlPlaneAddr.String() + "/24", "dev", cpLink},
		{"ip", "link", "set", cpLink, "up"},
	})
}

// Client is an admin clientset.
func (c *Cluster) Client() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// Nodes lists the worker nodes that have a network namespace, by name.
func (c *Cluster) Nodes() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if NodeIndex(e.Name()) > 0 {
			out = append(out, e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool { return NodeIndex(out[i]) < NodeIndex(out[j]) })
	return out
}

// Down removes everything a cluster in o.Dir made, from any process: the
// nodes (daemons by pid, then whatever is left in their cgroups; mount, UTS
// and network namespaces; cgroups), the control plane, the fabric, the
// control plane's link and the state dir. Leftovers of a crashed run are
// found by name (clu-* namespaces, the nodebgp-cluster cgroup) too.
func Down(o Options) error {
	o.defaults()
	c := &Cluster{Options: o}
	var errs []error
	names := c.Nodes()
	if entries, err := os.ReadDir(filepath.Join(c.Dir, "nodes")); err == nil {
		for _, e := range entries {
			if NodeIndex(e.Name()) > 0 && !contains(names, e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	for _, n := range names {
		if err := c.StopNode(n); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range []string{procScheduler, procKCM, procAPIServer, procEtcd} {
		if err := stopDaemon(c.Dir, p, stopWait); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.StopToR(); err != nil {
		errs = append(errs, err)
	}
	if err := killCgroup(cgroupTop, 30*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroup(cgroupTop); err != nil {
		errs = append(errs, err)
	}
	if _, err := os.Stat("/run/netns/" + FabricNetns); err == nil {
		if out, err := exec.Command("ip", "netns", "del", FabricNetns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", FabricNetns, err, out))
		}
	}
	if out, err := exec.Command("ip", "link", "show", cpLink).CombinedOutput(); err == nil {
		if out, err := exec.Command("ip", "link", "del", cpLink).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %w: %s", cpLink, err, out))
		}
	} else if !strings.Contains(string(out), "does not exist") {
		errs = append(errs, fmt.Errorf("ip link show %s: %w: %s", cpLink, err, out))
	}
	ns := filepath.Join(c.Dir, "ns")
	if entries, err := os.ReadDir(ns); err == nil {
		for _, e := range entries {
			_ = syscall.Unmount(filepath.Join(ns, e.Name()), syscall.MNT_DETACH)
		}
	}
	for syscall.Unmount(ns, syscall.MNT_DETACH) == nil {
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := os.Stat(c.Dir); err == nil {
		if _, err := os.Stat(filepath.Join(c.Dir, "MADE-BY")); err != nil {
			return fmt.Errorf("not removing %s: it has no MADE-BY marker, so the cluster lab did not make it", c.Dir)
		}
		if err := os.RemoveAll(c.Dir); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
