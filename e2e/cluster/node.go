package cluster

import (
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

// A worker node is a network namespace clu-nodeN (eth0 on the cluster's
// subnet), a mount namespace and a UTS namespace kept in files under
// <Dir>/ns, and cgroups <cgroupTop>/clu-nodeN/{daemons,pods}. Its containerd,
// kubelet and kube-proxy run in all three namespaces (nsenter), so each node
// has its own /etc, /opt, /var, /usr/lib (overlays on the host's, writes go to
// <Dir>/nodes/clu-nodeN/upper), /run (a tmpfs), /var/lib/kubelet and
// /var/lib/containerd (plain dirs under <Dir>/nodes/clu-nodeN) and hostname.
// Nothing a node writes reaches the host's own paths.

// NodeName is the name of node i (1-based).
func NodeName(i int) string { return fmt.Sprintf("%snode%d", Prefix, i) }

// NodeAddr is node i's address on the cluster subnet.
func NodeAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 198, 1, byte(10 + i)})
}

func (c *Cluster) nodeDir(name string) string { return filepath.Join(c.Dir, "nodes", name) }

func (c *Cluster) nsFile(name, kind string) string {
	return filepath.Join(c.Dir, "ns", name+"."+kind)
}

// NodeNsenter are nsenter's options that enter node name's namespaces.
func (c *Cluster) NodeNsenter(name string) []string {
	return []string{"--net=/run/netns/" + name, "--mount=" + c.nsFile(name, "mnt"), "--uts=" + c.nsFile(name, "uts")}
}

// InNode runs a command in node name's namespaces (bounded) and returns its
// combined output.
func (c *Cluster) InNode(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	argv := append(append(c.NodeNsenter(name), "--"), args...)
	out, err := exec.CommandContext(ctx, "nsenter", argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// The sysctls kubelet sets machine-wide when they differ from what it wants.
// Inside a node's mount namespace a file holding the current value is bound
// over each, so the kubelet writes the file and the host's value stays.
var machineSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// mountScript runs inside a node's new mount and UTS namespaces ($1 the node
// dir, $2 the hostname).
const mountScript = `set -eu
n=$1
hostname "$2"
for d in etc opt var usr/lib; do
	k=$(echo "$d" | tr / _)
	mkdir -p "$n/upper/$k" "$n/work/$k"
	mount -t overlay "overlay-$k" -o "lowerdir=/$d,upperdir=$n/upper/$k,workdir=$n/work/$k" "/$d"
done
# A fresh node has no network config: the host's (podman's 87-podman-bridge
# conflist, say) is hidden by whiteouts in the node's upper dir.
rm -rf /etc/cni/net.d /opt/cni /var/lib/cni
mkdir -p /etc/cni/net.d
mkdir -p /var/lib/kubelet /var/lib/containerd "$n/kubelet" "$n/containerd" "$n/sysctl"
mount --bind "$n/kubelet" /var/lib/kubelet
mount --bind "$n/containerd" /var/lib/containerd
mount -t tmpfs -o mode=0755 tmpfs /run
for s in ` + "$SYSCTLS" + `; do
	f="$n/sysctl/$(echo "$s" | tr / .)"
	cat "/proc/sys/$s" >"$f"
	mount --bind "$f" "/proc/sys/$s"
done
mount --make-rshared /
`

// AddNode brings node i up: network, namespaces, cgroups, containerd with the
// lab's images, kubelet (which registers the Node) and kube-proxy. It does
// not wait for the Node to be Ready: the network add-on makes it so.
func (c *Cluster) AddNode(ctx context.Context, i int) error {
	name := NodeName(i)
	c.logf("node %s: network namespace, eth0 %s", name, NodeAddr(i))
	if err := c.nodeNetwork(ctx, i); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	dir := c.nodeDir(name)
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		return err
	}
	for _, kind := range []string{"mnt", "uts"} {
		if err := os.WriteFile(c.nsFile(name, kind), nil, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "unshare", "--mount="+c.nsFile(name, "mnt"), "--uts="+c.nsFile(name, "uts"),
		"--propagation=private", "sh", "-c", mountScript, "sh", dir, name)
	cmd.Env = append(os.Environ(), "SYSCTLS="+strings.Join(machineSysctls, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("node %s: mount namespace: %w: %s", name, err, out)
	}
	daemons, err := makeCgroup(cgroupTop + "/" + name + "/daemons")
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if _, err := makeCgroup(cgroupTop + "/" + name + "/pods"); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if err := c.writeNodeConfigs(i); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	conf := filepath.Join(dir, "conf")
	c.logf("node %s: containerd", name)
	if _, err := startDaemon(daemonParams{Name: name + "-containerd", Dir: c.Dir, Cgroups: daemons, Nsenter: c.NodeNsenter(name),
		Args: []string{"containerd", "--config", filepath.Join(conf, "containerd.toml")}}); err != nil {
		return err
	}
	if err := c.waitContainerd(ctx, name); err != nil {
		return err
	}
	for _, img := range c.images() {
		start := time.Now()
		if out, err := c.InNode(ctx, name, "ctr", "-n", "k8s.io", "images", "import", img); err != nil {
			return fmt.Errorf("node %s: importing %s: %w: %s", name, img, err, out)
		}
		c.logf("node %s: imported %s in %v", name, filepath.Base(img), time.Since(start).Round(time.Millisecond))
	}
	for _, t := range c.extraTags {
		if out, err := c.InNode(ctx, name, "ctr", "-n", "k8s.io", "images", "tag", "--force", t[0], t[1]); err != nil {
			return fmt.Errorf("node %s: tagging %s as %s: %w: %s", name, t[0], t[1], err, out)
		}
	}
	c.logf("node %s: kubelet and kube-proxy", name)
	if _, err := startDaemon(daemonParams{Name: name + "-kubelet", Dir: c.Dir, Cgroups: daemons, Nsenter: c.NodeNsenter(name),
		Args: []string{c.Tools.bin("kubelet"),
			"--config=" + filepath.Join(conf, "kubelet.yaml"),
			"--kubeconfig=" + c.kubeconfigFor("system:node:"+name),
			"--hostname-override=" + name,
			"--node-ip=" + NodeAddr(i).String(),
		}}); err != nil {
		return err
	}
	if _, err := startDaemon(daemonParams{Name: name + "-kube-proxy", Dir: c.Dir, Cgroups: daemons, Nsenter: c.NodeNsenter(name),
		Args: []string{c.Tools.bin("kube-proxy"), "--config=" + filepath.Join(conf, "kube-proxy.yaml")}}); err != nil {
		return err
	}
	return nil
}

func (c *Cluster) waitContainerd(ctx context.Context, name string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.InNode(ctx, name, "ctr", "version")
		if err == nil {
			return nil
		}
		if d, lerr := loadDaemon(c.Dir, name+"-containerd"); lerr != nil || !d.alive() {
			return fmt.Errorf("node %s: containerd exited; end of its log:\n%s", name, logTail(LogPath(c.Dir, name+"-containerd"), 30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: containerd not answering after 60s: %w", name, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (c *Cluster) nodeNetwork(ctx context.Context, i int) error {
	name := NodeName(i)
	a, b := fmt.Sprintf("%sn%da", Prefix, i), fmt.Sprintf("%sn%db", Prefix, i)
	return runAll(ctx, [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", a, "type", "veth", "peer", "name", b},
		{"ip", "link", "set", a, "netns", FabricNetns},
		{"ip", "-n", FabricNetns, "link", "set", a, "master", fabricBridge, "up"},
		{"ip", "link", "set", b, "netns", name},
		{"ip", "-n", name, "link", "set", b, "name", "eth0"},
		{"ip", "-n", name, "addr", "add", NodeAddr(i).String() + "/24", "dev", "eth0"},
		{"ip", "-n", name, "link", "set", "lo", "up"},
		{"ip", "-n", name, "link", "set", "eth0", "up"},
		// A hostNetwork pod connects to the kubernetes Service (10.96.0.1):
		// the connect needs a route before kube-proxy's DNAT rewrites it.
		// No default route: nothing from a node may leave the lab.
		{"ip", "-n", name, "route", "add", serviceCIDR, "dev", "eth0"},
	})
}

func runAll(ctx context.Context, cmds [][]string) error {
	for _, argv := range cmds {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func (c *Cluster) writeNodeConfigs(i int) error {
	name := NodeName(i)
	conf := filepath.Join(c.nodeDir(name), "conf")
	containerd := `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  # The sandbox image is imported by the lab: no registry is reachable.
  sandbox_image = "` + ToolsImage + `"
  # This sandbox drops CAP_SYS_RESOURCE: no negative oom_score_adj, or runc
  # fails every pod ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
`
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: /%[2]s/%[3]s/pods
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
resolvConf: /etc/resolv.conf
volumePluginDir: /var/lib/kubelet/volume-plugins
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
`, NodeAddr(i), cgroupTop, name)
	proxy := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, c.kubeconfigFor(proxyUser), name, c.ClusterCIDR)
	for f, data := range map[string]string{"containerd.toml": containerd, "kubelet.yaml": kubelet, "kube-proxy.yaml": proxy} {
		if err := os.WriteFile(filepath.Join(conf, f), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// StopNode stops node name's kube-proxy, kubelet and containerd, kills
// everything left in its cgroups (shims, pods), drops its namespaces and
// cgroups and removes its files. Safe on a half-made or gone node.
func (c *Cluster) StopNode(name string) error {
	var errs []error
	for _, p := range []string{"-kube-proxy", "-kubelet", "-containerd"} {
		if err := stopDaemon(c.Dir, name+p, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := killCgroup(cgroupTop+"/"+name, 30*time.Second); err != nil {
		errs = append(errs, err)
	}
	for _, kind := range []string{"mnt", "uts"} {
		f := c.nsFile(name, kind)
		if err := syscall.Unmount(f, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", f, err))
		}
		_ = os.Remove(f)
	}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", name, err, out))
		}
	}
	if err := removeCgroup(cgroupTop + "/" + name); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(c.nodeDir(name)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NodeIndex is the i of a node name clu-node<i>, or 0.
func NodeIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, Prefix+"node"))
	if err != nil || !strings.HasPrefix(name, Prefix+"node") {
		return 0
	}
	return i
}
