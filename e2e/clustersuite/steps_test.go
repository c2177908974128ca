//go:build e2e

package clustersuite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/cluster"
	"github.com/nodebgp/router/e2e/e2eutil"
)

// rollingUpdate moves the DaemonSet to a new image tag, one node at a time as
// its updateStrategy says, while a pod on every node pings a pod on the next.
func rollingUpdate(ctx context.Context, t *testing.T) {
	newImage := opts.RouterImage + "-rollout"
	e2eutil.LogStep(t, "the new image %s: the same build under a new tag, as a registry push would add it", newImage)
	if err := cl.TagImage(ctx, opts.RouterImage, newImage, cl.Nodes()); err != nil {
		t.Fatal(err)
	}
	before := agentPods(ctx, t, agentSelector)
	ps, labels := crossPingers(ctx, t, 10*time.Minute)
	time.Sleep(3 * time.Second)
	start := time.Now()
	mustKubectl(ctx, t, "-n", "kube-system", "set", "image", "daemonset/nodebgp", "router="+newImage, "install-cni="+newImage)
	out, err := kubectl(ctx, "-n", "kube-system", "rollout", "status", "daemonset/nodebgp", "--timeout=5m")
	took := time.Since(start)
	time.Sleep(5 * time.Second)
	sent, lost := stopPingers(t, ps, labels, 100)
	if err != nil {
		t.Fatalf("rollout: %v\n%s", err, out)
	}
	timing(t, "rolling update of "+strconv.Itoa(len(before))+" agents", took)
	t.Logf("PACKETS rolling update: sent %d, lost %d", sent, lost)
	after := agentPods(ctx, t, agentSelector)
	for node, p := range after {
		if p.UID == before[node].UID {
			t.Errorf("agent pod on %s was not replaced", node)
		}
		if p.Spec.Containers[0].Image != newImage {
			t.Errorf("agent on %s runs %s, want %s", node, p.Spec.Containers[0].Image, newImage)
		}
	}
}

// apiOutage stops kube-apiserver for 60 s: routes stay as they are, pods keep
// talking, the agents stay live (the kubelet restarts none), and after the
// API returns a Node change reaches every agent within seconds.
func apiOutage(ctx context.Context, t *testing.T) {
	nodes := cl.Nodes()
	before := map[string]string{}
	for _, n := range nodes {
		r, err := routes78(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = r
	}
	restartsBefore := map[string]int32{}
	for node, p := range agentPods(ctx, t, agentSelector) {
		restartsBefore[node] = restarts(p)
	}
	e2eutil.LogStep(t, "baseline with the API up: a new Node becomes a BGP neighbor of every agent")
	baseline, _ := ghostNeighbor(ctx, t, nodes, "clu-ghost1", "10.198.1.99", "10.244.250.0/24")
	timing(t, "Node added (API healthy) -> neighbor on every agent", baseline)
	ps, labels := crossPingers(ctx, t, 5*time.Minute)
	e2eutil.LogStep(t, "kube-apiserver stopped for 60 s")
	if err := cl.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = cl.StartAPIServer(context.Background())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			r, err := routes78(ctx, n)
			if err != nil || r != before[n] {
				t.Errorf("node %s: routes changed during the outage: %v\nbefore:\n%s\nnow:\n%s", n, err, before[n], r)
			}
			// What the kubelet's liveness probe asks (hostNetwork: node IP:9779).
			code, err := healthz(ctx, cluster.NodeAddr(cluster.NodeIndex(n)).String(), "/healthz")
			if err != nil || code != http.StatusOK {
				t.Errorf("node %s: /healthz during the outage: %d %v", n, code, err)
			}
		}
		if t.Failed() {
			break
		}
		time.Sleep(5 * time.Second)
	}
	e2eutil.LogStep(t, "kube-apiserver back; at once a Node change: a new Node object must appear as a BGP neighbor on every agent")
	start := time.Now()
	if err := cl.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	apiBack := time.Now()
	timing(t, "kube-apiserver ready again", apiBack.Sub(start))
	_, seen := ghostNeighbor(ctx, t, nodes, "clu-ghost2", "10.198.1.98", "10.244.251.0/24")
	applied := seen.Sub(apiBack)
	timing(t, "API back -> Node change applied on every agent", applied)
	sent, lost := stopPingers(t, ps, labels, 500)
	t.Logf("PACKETS API outage: sent %d, lost %d", sent, lost)
	for node, p := range agentPods(ctx, t, agentSelector) {
		if restarts(p) != restartsBefore[node] {
			t.Errorf("agent on %s restarted during the outage: %d -> %d restarts", node, restartsBefore[node], restarts(p))
		}
	}
	// The agent reaches the API server at its own address (api-server-host,
	// step 01), so it need not wait for kube-proxy, whose watch brings the
	// kubernetes Service's endpoint back later (kube-apiserver removes it
	// when it stops). Timed for comparison: via the Service the agent came
	// after it, 1m09-1m40 in all (client-go's 30-60 s watch back-off on top).
	svcStart := time.Now()
	svcBack := e2eutil.Eventually(t, 3*time.Minute, 200*time.Millisecond, "kube-proxy routes the kubernetes Service again on every node", func() error {
		for _, n := range nodes {
			out, err := cl.InNode(ctx, n, "iptables-save", "-t", "nat")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "-d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-SVC-") {
				return fmt.Errorf("node %s: no KUBE-SVC rule for 10.96.0.1:443", n)
			}
		}
		return nil
	})
	timing(t, "API back -> kube-proxy routes 10.96.0.1 again on every node", svcStart.Add(svcBack).Sub(apiBack))
	// Within seconds, as on a healthy API (measured before the outage): the
	// agent's watch retries every <= 5 s while the API is away (pkg/kubewatch).
	if budget := 10 * time.Second; applied > budget {
		t.Errorf("a Node added after the API outage reached every agent only %v after the API returned (want within %v; with the API up: %v)",
			applied.Round(100*time.Millisecond), budget, baseline.Round(10*time.Millisecond))
	}
	// kube-controller-manager's informers back off like kube-proxy's; until
	// its Node watch is back it allocates no pod CIDR and its DaemonSet
	// controller starts no agent, which the join step would time as ours.
	// Leave the cluster settled: a Node without a pod CIDR gets one.
	probe := "clu-kcm-probe"
	apply(ctx, t, "apiVersion: v1\nkind: Node\nmetadata: {name: "+probe+"}\n")
	defer func() { _, _ = kubectl(context.Background(), "delete", "node", probe, "--wait=false") }()
	e2eutil.Eventually(t, 3*time.Minute, 500*time.Millisecond, "kube-controller-manager allocates a pod CIDR again", func() error {
		out, err := kubectl(ctx, "get", "node", probe, "-o", "jsonpath={.spec.podCIDR}")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return fmt.Errorf("node %s has no pod CIDR yet", probe)
		}
		return nil
	})
	timing(t, "API back -> kube-controller-manager allocates a pod CIDR again", time.Since(apiBack))
	mustKubectl(ctx, t, "delete", "node", probe, "--timeout=30s")
}

// ghostNeighbor creates a Node with an InternalIP and a pod CIDR (no kubelet
// behind it), waits until every agent lists it as a BGP neighbor, deletes it
// and returns how long that took from its creation and when it was seen.
func ghostNeighbor(ctx context.Context, t *testing.T, nodes []string, name, ip, cidr string) (time.Duration, time.Time) {
	t.Helper()
	start := time.Now()
	apply(ctx, t, fmt.Sprintf(`apiVersion: v1
kind: Node
metadata: {name: %s}
spec: {podCIDR: %s, podCIDRs: [%s]}
`, name, cidr, cidr))
	defer func() { _, _ = kubectl(context.Background(), "delete", "node", name, "--wait=false") }()
	mustKubectl(ctx, t, "patch", "node", name, "--subresource=status", "--type=merge",
		`-p={"status":{"addresses":[{"type":"InternalIP","address":"`+ip+`"}]}}`)
	e2eutil.Eventually(t, 3*time.Minute, 200*time.Millisecond, "every agent has "+ip+" as a neighbor", func() error {
		for _, n := range nodes {
			out, err := cl.InNode(ctx, n, filepath.Join(opts.Tools.Dir, "bin", "gobgp"), "neighbor")
			if err != nil {
				return err
			}
			if !strings.Contains(out, ip) {
				return fmt.Errorf("node %s: no neighbor %s:\n%s", n, ip, out)
			}
		}
		return nil
	})
	seen := time.Now()
	mustKubectl(ctx, t, "delete", "node", name, "--timeout=30s")
	return seen.Sub(start), seen
}

func healthz(ctx context.Context, host, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+":9779"+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// nodeJoins adds a 4th node: kubelet registers, the controller allocates its
// pod CIDR, the DaemonSet's pod starts and the node turns Ready, and a pod on
// it is reachable from the pods of every other node. Each phase is timed.
func nodeJoins(ctx context.Context, t *testing.T) {
	const i = 4
	name := cluster.NodeName(i)
	start := time.Now()
	if err := cl.AddNode(ctx, i); err != nil {
		t.Fatal(err)
	}
	cs := client(t)
	var registered, ready time.Duration
	e2eutil.Eventually(t, 2*time.Minute, 200*time.Millisecond, name+" registered with a pod CIDR", func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Spec.PodCIDR == "" {
			return fmt.Errorf("no pod CIDR yet")
		}
		registered = time.Since(start)
		return nil
	})
	if err := cl.WaitReady(ctx, []string{name}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	ready = time.Since(start)
	apply(ctx, t, webPod("joiner", name, "hostname", 0))
	j := waitPods(ctx, t, testNs, "app=joiner", 1, 2*time.Minute)[0]
	running := time.Since(start)
	others := waitPods(ctx, t, testNs, webSelector, 3, time.Minute)
	cidr := nodePodCIDR(ctx, t, name)
	var routedThere, routedBack time.Duration
	e2eutil.Eventually(t, 3*time.Minute, 200*time.Millisecond, "pod on "+name+" reachable from every other node's pod", func() error {
		if routedThere == 0 {
			ok := true
			for _, n := range cl.Nodes() {
				if r, _ := routes78(ctx, n); n != name && !strings.Contains(r, cidr.String()) {
					ok = false
				}
			}
			if ok {
				routedThere = time.Since(start)
			}
		}
		if routedBack == 0 {
			if r, _ := routes78(ctx, name); strings.Count(r, " via ") >= 3 {
				routedBack = time.Since(start)
			}
		}
		for _, o := range others {
			if err := ping(ctx, t, o, j.IP, 1); err != nil {
				return err
			}
		}
		return nil
	})
	reachable := time.Since(start)
	timing(t, "join: kubelet start -> Node registered with pod CIDR", registered)
	timing(t, "join: kubelet start -> Node Ready", ready)
	timing(t, "join: kubelet start -> first pod Running", running)
	timing(t, "join: kubelet start -> every other node routes its pod CIDR", routedThere)
	timing(t, "join: kubelet start -> it routes every other pod CIDR", routedBack)
	timing(t, "join: kubelet start -> pod reachable from every node", reachable)
	t.Logf("the cluster after the join (agent logs): %s", dump("after-join"))
	if err := checkRoutes(ctx, t, cl.Nodes()); err != nil {
		t.Error(err)
	}
}

// nodeLeaves deletes the 4th node and stops it: its routes and sessions are
// gone from the others.
func nodeLeaves(ctx context.Context, t *testing.T) {
	name := cluster.NodeName(4)
	addr := cluster.NodeAddr(4).String()
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		t.Skipf("%s is not there (the join step failed)", name)
	}
	cidr := nodePodCIDR(ctx, t, name)
	// Its pods first, while its kubelet still runs: a pod left on a deleted
	// node waits for the pod garbage collector and holds up namespace deletion.
	_, _ = kubectl(ctx, "-n", testNs, "delete", "pod", "joiner", "--wait=true", "--timeout=30s")
	// The node's BGPNodeState names its Node as owner, so that the garbage
	// collector (kube-controller-manager) removes it with the Node.
	nodeUID := strings.TrimSpace(mustKubectl(ctx, t, "get", "node", name, "-o", "jsonpath={.metadata.uid}"))
	var owner string
	e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "BGPNodeState "+name+" owned by its Node", func() error {
		out, err := kubectl(ctx, "get", "bgpnodestates.nodebgp.io", name, "-o",
			"jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].uid}")
		if err != nil {
			return err
		}
		owner = strings.TrimSpace(out)
		if want := "Node/" + name + "/" + nodeUID; owner != want {
			return fmt.Errorf("owner %q, want %q", owner, want)
		}
		return nil
	})
	e2eutil.LogStep(t, "BGPNodeState %s is owned by %s", name, owner)
	mustKubectl(ctx, t, "delete", "node", name, "--timeout=60s")
	deleted := time.Now()
	if err := cl.StopNode(name); err != nil {
		t.Fatal(err)
	}
	nodes := cl.Nodes()
	took := e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "route and session of "+name+" gone", func() error {
		for _, n := range nodes {
			r, err := routes78(ctx, n)
			if err != nil {
				return err
			}
			if strings.Contains(r, cidr.String()) {
				return fmt.Errorf("node %s still routes %s:\n%s", n, cidr, r)
			}
			out, err := cl.InNode(ctx, n, filepath.Join(opts.Tools.Dir, "bin", "gobgp"), "neighbor")
			if err != nil {
				return err
			}
			if strings.Contains(out, addr) {
				return fmt.Errorf("node %s still has neighbor %s:\n%s", n, addr, out)
			}
		}
		return nil
	})
	timing(t, "node deleted -> its route and session gone everywhere", took)
	// Its agent may write the object once more before its kubelet stops; the
	// collector removes that too (its owner's UID is gone).
	e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "BGPNodeState "+name+" garbage-collected", func() error {
		out, err := kubectl(ctx, "get", "bgpnodestates.nodebgp.io", name, "--ignore-not-found", "-o", "name")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	})
	timing(t, "node deleted -> its BGPNodeState garbage-collected", time.Since(deleted))
}

// uninstall deletes the DaemonSet as docs/install.md says, runs the cleanup
// manifest, and wants nothing of the agent's left on any node.
func uninstall(ctx context.Context, t *testing.T) {
	nodes := cl.Nodes()
	start := time.Now()
	_, _ = kubectl(ctx, "delete", "namespace", testNs, "--wait=true", "--timeout=120s")
	timing(t, "test namespace deleted", time.Since(start))
	start = time.Now()
	mustKubectl(ctx, t, "delete", "-k", kubeadmOverlay, "--wait=true", "--timeout=120s")
	e2eutil.Eventually(t, 90*time.Second, time.Second, "agent pods gone", func() error {
		if p := agentPods(ctx, t, agentSelector); len(p) > 0 {
			return fmt.Errorf("%d agent pods left", len(p))
		}
		return nil
	})
	timing(t, "kubectl delete -k -> agent pods gone", time.Since(start))
	start = time.Now()
	cleanup := filepath.Join(repoRoot, "daemonset", "cleanup.yaml")
	mustKubectl(ctx, t, "apply", "-f", cleanup)
	mustKubectl(ctx, t, "-n", "kube-system", "rollout", "status", "daemonset/nodebgp-cleanup", "--timeout=180s")
	timing(t, "cleanup DaemonSet done on every node", time.Since(start))
	mustKubectl(ctx, t, "delete", "-f", cleanup, "--wait=true", "--timeout=60s")
	for _, n := range nodes {
		if r, _ := routes78(ctx, n); r != "" {
			t.Errorf("node %s: proto-78 routes left:\n%s", n, r)
		}
		if out := inNode(ctx, t, n, "iptables-save"); strings.Contains(out, "NODEBGP") {
			t.Errorf("node %s: NODEBGP chains left:\n%s", n, grepLines(out, "NODEBGP"))
		}
		if out, _ := cl.InNode(ctx, n, "ls", "/etc/cni/net.d"); strings.Contains(out, "nodebgp") {
			t.Errorf("node %s: conflist left: %s", n, out)
		}
		if out, _ := cl.InNode(ctx, n, "ip", "link", "show", "nodebgp0"); !strings.Contains(out, "does not exist") {
			t.Errorf("node %s: bridge nodebgp0 left: %s", n, out)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rke2 brings up a fresh cluster with RKE2's default cluster CIDR and applies
// the rke2 overlay the same way: nodes Ready, pods across nodes talk.
func rke2(ctx context.Context, t *testing.T) {
	o := opts
	o.ClusterCIDR = "10.42.0.0/16"
	c, err := cluster.Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cl = c
	start := time.Now()
	t.Log(mustKubectl(ctx, t, "apply", "-k", filepath.Join(repoRoot, "daemonset", "overlays", "rke2")))
	if err := cl.WaitReady(ctx, cl.Nodes(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	timing(t, "rke2 overlay: apply -> every node Ready", time.Since(start))
	apply(ctx, t, webManifest(len(cl.Nodes())))
	pods := waitPods(ctx, t, testNs, webSelector, len(cl.Nodes()), 2*time.Minute)
	for _, a := range pods {
		if !strings.HasPrefix(a.IP.String(), "10.42.") {
			t.Errorf("pod %s: not in 10.42.0.0/16", a)
		}
		for _, b := range pods {
			if a.Node != b.Node {
				if err := ping(ctx, t, a, b.IP, 2); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// genericYAML is the Kubespray custom_cni path: `kubectl apply -f
// daemonset/generic.yaml` on a fresh kubeadm-like cluster.
func genericYAML(ctx context.Context, t *testing.T) {
	o := opts
	o.ClusterCIDR = cluster.DefaultClusterCIDR
	c, err := cluster.Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cl = c
	start := time.Now()
	t.Log(mustKubectl(ctx, t, "apply", "-f", filepath.Join(repoRoot, "daemonset", "generic.yaml")))
	if err := cl.WaitReady(ctx, cl.Nodes(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	timing(t, "generic.yaml: apply -> every node Ready", time.Since(start))
	apply(ctx, t, webManifest(len(cl.Nodes())))
	pods := waitPods(ctx, t, testNs, webSelector, len(cl.Nodes()), 2*time.Minute)
	for _, a := range pods {
		for _, b := range pods {
			if a.Node != b.Node {
				if err := ping(ctx, t, a, b.IP, 2); err != nil {
					t.Error(err)
				}
			}
		}
	}
}
