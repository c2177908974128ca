//go:build e2e

package clustersuite

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vishvananda/netns"

	"github.com/nodebgp/router/e2e/cluster"
	"github.com/nodebgp/router/e2e/e2eutil"
)

const cmdTimeout = 3 * time.Minute

// step runs one named runbook step; a failed step saves the cluster's state
// (routes, iptables, agent logs) before its cleanups run.
func step(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
			if t.Failed() {
				path := dump(t.Name())
				t.Logf("the cluster's state at this failure: %s", path)
			}
		}()
		fn(t)
	})
}

func client(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := cl.Client()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// kubectl runs the cluster's kubectl as admin.
func kubectl(ctx context.Context, args ...string) (string, error) {
	return kubectlIn(ctx, "", args...)
}

func kubectlIn(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(opts.Tools.Dir, "bin", "kubectl"), append([]string{"--kubeconfig", cl.AdminKubeconfig()}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func mustKubectl(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func apply(ctx context.Context, t *testing.T, manifest string) {
	t.Helper()
	if _, err := kubectlIn(ctx, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

func inNode(ctx context.Context, t *testing.T, node string, args ...string) string {
	t.Helper()
	out, err := cl.InNode(ctx, node, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pod is a running pod as the suite needs it.
type pod struct {
	Name, Node string
	IP         netip.Addr
	UID        string
}

func (p pod) String() string { return fmt.Sprintf("%s (%s on %s)", p.Name, p.IP, p.Node) }

// runningPods lists the Running pods with an IP matching selector.
func runningPods(ctx context.Context, cs kubernetes.Interface, ns, selector string) ([]pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []pod
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		out = append(out, pod{Name: p.Name, Node: p.Spec.NodeName, IP: ip, UID: string(p.UID)})
	}
	return out, nil
}

// waitPods waits until want pods matching selector run and are ready, and
// returns them.
func waitPods(ctx context.Context, t *testing.T, ns, selector string, want int, timeout time.Duration) []pod {
	t.Helper()
	cs := client(t)
	var pods []pod
	e2eutil.Eventually(t, timeout, time.Second, fmt.Sprintf("%d ready pods %s in %s", want, selector, ns), func() error {
		var err error
		pods, err = runningPods(ctx, cs, ns, selector)
		if err != nil {
			return err
		}
		if len(pods) != want {
			return fmt.Errorf("%d ready: %v", len(pods), pods)
		}
		return nil
	})
	return pods
}

// podNet is the command prefix that enters a pod's network namespace: the
// namespace the runtime made through the CNI, found by a process of the pod
// in the kubelet's cgroup for it (cgroupfs driver: .../pod<uid>/...).
func podNet(t *testing.T, p pod) []string {
	t.Helper()
	pid, err := podPID(p)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"nsenter", "--net=/proc/" + strconv.Itoa(pid) + "/ns/net"}
}

func podPID(p pod) (int, error) {
	root := filepath.Join("/sys/fs/cgroup/pids", "nodebgp-cluster", p.Node, "pods")
	var found int
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || found != 0 {
			return nil
		}
		if !strings.Contains(path, "/pod"+p.UID) {
			return nil
		}
		raw, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				found = pid
				return filepath.SkipAll
			}
		}
		return nil
	})
	if found == 0 {
		return 0, fmt.Errorf("pod %s: no process under %s/**/pod%s", p, root, p.UID)
	}
	return found, nil
}

// inPod runs a host command (ping, busybox wget) in a pod's network namespace.
func inPod(ctx context.Context, t *testing.T, p pod, args ...string) (string, error) {
	t.Helper()
	argv := append(podNet(t, p), args...)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("from pod %s: %s: %w: %s", p, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// webPod is a one-container pod of the tools image on node, labelled
// app=<name>, whose httpd serves on 8080 an index.html holding what the shell
// command index prints; hostPort, when not 0, publishes 8080 on the node
// (portmap), with a readiness probe so that the test waits for the server.
func webPod(name, node, index string, hostPort int) string {
	ports := ""
	if hostPort != 0 {
		ports = fmt.Sprintf(`      ports: [{containerPort: 8080, hostPort: %d}]
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
`, hostPort)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: %s}}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: %s}
  containers:
    - name: web
      image: %s
      imagePullPolicy: Never
      command: ["sh", "-c", "mkdir -p /www && %s > /www/index.html && exec httpd -f -p 8080 -h /www"]
%s`, name, testNs, name, node, cluster.ToolsImage, index, ports)
}

// ping sends count echo requests from a pod and wants every answer.
func ping(ctx context.Context, t *testing.T, from pod, to netip.Addr, count int) error {
	t.Helper()
	out, runErr := inPod(ctx, t, from, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", to.String())
	sent, received, err := e2eutil.PingStats(out)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w (%v)", to, from, err, runErr)
	}
	if received != count {
		return fmt.Errorf("ping %s from %s: sent %d, received %d", to, from, sent, received)
	}
	return nil
}

// httpGet fetches http://host:port/ from inside a pod's network namespace:
// the connection is dialed on a thread switched into it (a socket stays in
// the namespace it was made in), so the host needs no client tool.
func httpGet(ctx context.Context, t *testing.T, from pod, url string) (string, error) {
	t.Helper()
	pid, err := podPID(from)
	if err != nil {
		return "", err
	}
	return httpGetIn(ctx, fmt.Sprintf("/proc/%d/ns/net", pid), "pod "+from.String(), url)
}

// httpGetIn fetches url from inside the network namespace at nsPath (who
// names it in errors) and returns the body of a 200 answer.
func httpGetIn(ctx context.Context, nsPath, who, url string) (string, error) {
	hostport := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if !strings.Contains(hostport, ":") {
		hostport += ":80"
	}
	var conn net.Conn
	err := func() error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer target.Close()
		defer func() {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
		}()
		if err := netns.Set(target); err != nil {
			return err
		}
		d := net.Dialer{Timeout: 3 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", hostport)
		return err
	}()
	if err != nil {
		return "", fmt.Errorf("from %s: connecting to %s: %w", who, hostport, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", hostport); err != nil {
		return "", fmt.Errorf("from %s: GET %s: %w", who, url, err)
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("from %s: GET %s: %w", who, url, err)
	}
	_, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok || !strings.HasPrefix(string(raw), "HTTP/1.") || !strings.Contains(strings.SplitN(string(raw), "\n", 2)[0], " 200 ") {
		return "", fmt.Errorf("from %s: GET %s: not a 200 response: %q", who, url, raw)
	}
	return strings.TrimSpace(body), nil
}

// routes78 is a node's kernel routes of protocol 78 (the agent's).
func routes78(ctx context.Context, node string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", node, "route", "show", "proto", "78").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// nodePodCIDR is a node's spec.podCIDR.
func nodePodCIDR(ctx context.Context, t *testing.T, node string) netip.Prefix {
	t.Helper()
	n, err := client(t).CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		t.Fatalf("node %s: podCIDR %q: %v", node, n.Spec.PodCIDR, err)
	}
	return p
}

// agentPods maps node name to the nodebgp agent pod on it.
func agentPods(ctx context.Context, t *testing.T, selector string) map[string]corev1.Pod {
	t.Helper()
	list, err := client(t).CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = p
		}
	}
	return out
}

func restarts(p corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// dump writes each node's routes, iptables, links, the agent pods' logs
// (read from the node's own /var/log/pods, so it works with the API down)
// and the cluster's events to a file and returns its path.
func dump(label string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(artifacts, "dump-"+strings.NewReplacer("/", "_", " ", "_").Replace(label)+".txt")
	var b strings.Builder
	fmt.Fprintf(&b, "nodebgp cluster dump (%s) at %s\n", label, time.Now().Format(time.RFC3339))
	if cl != nil {
		for _, n := range cl.Nodes() {
			for _, argv := range [][]string{
				{"ip", "addr"}, {"ip", "route"}, {"ip", "route", "show", "proto", "78"},
				{"iptables-save"}, {"ls", "-l", "/opt/cni/bin", "/etc/cni/net.d"},
				{"cat", "/etc/cni/net.d/10-nodebgp.conflist"},
				{"sh", "-c", "for f in /var/log/pods/kube-system_nodebgp*/*/*.log; do echo \"== $f\"; tail -n 80 \"$f\"; done"},
				{"ctr", "-n", "k8s.io", "tasks", "ls"},
			} {
				out, err := cl.InNode(ctx, n, argv...)
				fmt.Fprintf(&b, "\n===== %s: %s (%v)\n%s", n, strings.Join(argv, " "), err, out)
			}
		}
		for _, argv := range [][]string{
			{"get", "nodes", "-o", "wide"}, {"get", "pods", "-A", "-o", "wide"}, {"get", "events", "-A", "--sort-by=.lastTimestamp"},
		} {
			out, err := kubectl(ctx, argv...)
			fmt.Fprintf(&b, "\n===== kubectl %s (%v)\n%s", strings.Join(argv, " "), err, out)
		}
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
	return path
}

// saveLogs copies the cluster's process logs (kubelet, containerd, the
// control plane) into the artifacts before teardown removes them.
func saveLogs(label string) {
	dst := filepath.Join(artifacts, "logs-"+label)
	_ = os.MkdirAll(dst, 0o755)
	logs, _ := filepath.Glob(filepath.Join(opts.Dir, "logs", "*.log"))
	for _, src := range logs {
		if data, err := os.ReadFile(src); err == nil {
			_ = os.WriteFile(filepath.Join(dst, filepath.Base(src)), data, 0o644)
		}
	}
	fmt.Printf("clustersuite: logs saved in %s\n", dst)
}

// timing prints a measured duration in one greppable line.
func timing(t *testing.T, what string, d time.Duration) {
	t.Helper()
	t.Logf("TIMING %s: %v", what, d.Round(10*time.Millisecond))
}

var _ = cluster.NodeName
