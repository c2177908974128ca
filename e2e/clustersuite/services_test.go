//go:build e2e

package clustersuite

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/cluster"
	"github.com/nodebgp/router/e2e/e2eutil"
)

// Addresses of the Service step: an external IP and load-balancer IPs from a
// lab range that only the nodes' kube-proxy answers for.
const (
	svcExternalIP = "10.198.3.10"
	svcLBIP       = "10.198.3.20"
	svcLocalLBIP  = "10.198.3.21"
	// torWait bounds every wait for the ToR's RIB to follow a change.
	torWait = 90 * time.Second
	// spreadConns is how many connections the client makes to each address
	// to see ECMP and kube-proxy spread them.
	spreadConns = 30
)

// servicesAtToR is issue 14's proof on real nodes: an FRR ToR peering with
// every node, the agents announcing Service addresses to it (flags added by
// an overlay, as an operator adds them), kube-proxy forwarding, a client
// behind the ToR.
func servicesAtToR(ctx context.Context, t *testing.T) {
	nodes := cl.Nodes()
	nodeIPs := make([]netip.Addr, len(nodes))
	for i, n := range nodes {
		nodeIPs[i] = cluster.NodeAddr(cluster.NodeIndex(n))
	}
	started, err := cl.StartToR(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tor := torView{started}
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			path := filepath.Join(artifacts, "dump-tor.txt")
			_ = os.WriteFile(path, []byte(tor.Dump(ctx)), 0o644)
			t.Logf("the ToR's state at this failure: %s", path)
		}
		if err := cl.StopToR(); err != nil {
			t.Errorf("removing the ToR: %v", err)
		}
	})

	args := []string{
		"--peer-router-ips=" + cluster.ToRAddr.String(),
		"--peer-router-asns=" + strconv.Itoa(cluster.ToRASN),
		// The ToR announces the client subnet: answers to clients (SNATed by
		// kube-proxy with Cluster, or straight from the pod with Local) need
		// the route back.
		"--accept-upstream-routes",
		"--advertise-cluster-ip",
		"--advertise-external-ip",
		"--advertise-loadbalancer-ip",
	}
	overlay, err := cl.AgentArgsOverlay(kubeadmOverlay, "kubeadm-services", args)
	if err != nil {
		t.Fatal(err)
	}
	e2eutil.LogStep(t, "kubectl apply -k %s: the agents get %s", overlay, strings.Join(args, " "))
	start := time.Now()
	mustKubectl(ctx, t, "apply", "-k", overlay)
	t.Cleanup(func() {
		// Leave the agents as step 01 made them, for the steps after this one.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if _, err := kubectl(ctx, "apply", "-k", kubeadmOverlay); err != nil {
			t.Errorf("restoring the agents' flags: %v", err)
			return
		}
		if out, err := kubectl(ctx, "-n", "kube-system", "rollout", "status", "daemonset/nodebgp", "--timeout=3m"); err != nil {
			t.Errorf("restoring the agents' flags: %v\n%s", err, out)
		}
	})
	mustKubectl(ctx, t, "-n", "kube-system", "rollout", "status", "daemonset/nodebgp", "--timeout=3m")
	timing(t, "apply the overlay -> DaemonSet rolled out", time.Since(start))
	// Where the rollout's time goes, per agent: 8-10 s in all on a fresh
	// cluster, ~55 s after steps 03-06.
	for node, p := range agentPods(ctx, t, agentSelector) {
		ready := "not ready"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = fmt.Sprintf("ready +%v", c.LastTransitionTime.Sub(start).Round(time.Second))
			}
		}
		t.Logf("agent on %s: created +%v, %s", node, p.CreationTimestamp.Sub(start).Round(time.Second), ready)
	}
	e2eutil.Eventually(t, torWait, 500*time.Millisecond, "every node Established with the ToR", func() error {
		nbs, err := tor.Neighbors(ctx)
		if err != nil {
			return err
		}
		up := map[netip.Addr]bool{}
		for _, nb := range nbs {
			if nb.Established() {
				up[nb.Address] = true
			}
		}
		for _, ip := range nodeIPs {
			if !up[ip] {
				return fmt.Errorf("%s not Established: %+v", ip, nbs)
			}
		}
		return nil
	})
	e2eutil.Eventually(t, torWait, 500*time.Millisecond, "every node routes the client subnet via the ToR", func() error {
		want := fmt.Sprintf("%s via %s", cluster.ClientSubnet, cluster.ToRAddr)
		for _, n := range nodes {
			r, err := routes78(ctx, n)
			if err != nil {
				return err
			}
			if !strings.Contains(r, want) {
				return fmt.Errorf("node %s: no %q in:\n%s", n, want, r)
			}
		}
		return nil
	})
	timing(t, "apply the overlay -> agents rolled, ToR sessions up, client subnet routed on every node", time.Since(start))

	e2eutil.LogStep(t, "Deployment backend (%d pods, one per node) behind Service backend: type LoadBalancer, externalIPs [%s], ingress %s written as an LB controller would, externalTrafficPolicy Cluster", len(nodes), svcExternalIP, svcLBIP)
	apply(ctx, t, backendManifest("backend", len(nodes), ""))
	apply(ctx, t, serviceManifest("backend", "backend", "Cluster", svcExternalIP))
	svc := setLBIngress(ctx, t, "backend", svcLBIP)
	t.Cleanup(func() {
		_, _ = kubectl(context.Background(), "-n", testNs, "delete", "service", "backend", "backend-local", "--ignore-not-found", "--wait=false")
		_, _ = kubectl(context.Background(), "-n", testNs, "delete", "deployment", "backend", "local", "--ignore-not-found", "--wait=false")
	})
	backends := waitPods(ctx, t, testNs, "app=backend", len(nodes), 2*time.Minute)
	addrs := map[string]string{"ClusterIP": svc.Spec.ClusterIP, "ExternalIP": svcExternalIP, "LoadBalancer": svcLBIP}
	kinds := []string{"ClusterIP", "ExternalIP", "LoadBalancer"}
	for _, kind := range kinds {
		ip := addrs[kind]
		took := waitToR(ctx, t, tor, hostRoute(ip), nodeIPs)
		fib, _ := tor.kernelRoute(ctx, ip)
		t.Logf("ECMP %s %s at the ToR after %v: BGP next hops %v; ToR kernel: %s", kind, ip, took.Round(10*time.Millisecond), nodeIPs, fib)
		if n := strings.Count(fib, "nexthop via"); n != len(nodes) {
			t.Errorf("%s %s: the ToR's kernel route has %d next hops, want %d:\n%s", kind, ip, n, len(nodes), fib)
		}
	}

	// The ToR sends these /32s back to the nodes too (its best paths); no
	// node may route a Service address anywhere: kube-proxy answers for it.
	for _, n := range nodes {
		r, err := routes78(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range kinds {
			if strings.Contains(r, addrs[kind]+" ") {
				t.Errorf("node %s: a kernel route to %s %s:\n%s", n, kind, addrs[kind], r)
			}
		}
	}

	e2eutil.LogStep(t, "the client %s connects %d times to each address through the ToR", cluster.ClientAddr, spreadConns)
	for _, kind := range kinds {
		ip := addrs[kind]
		e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "the client reaches "+ip, func() error {
			_, err := clientGet(ctx, ip)
			return err
		})
		flushConntrack(ctx, nodes, ip)
		answered := map[string]int{}
		for i := 0; i < spreadConns; i++ {
			body, err := clientGet(ctx, ip)
			if err != nil {
				t.Errorf("%s %s: connection %d: %v", kind, ip, i, err)
				continue
			}
			answered[body]++
		}
		perNode := conntrackCounts(ctx, t, nodes, ip)
		t.Logf("SPREAD %s %s: %d connections answered by pods %v; entering at nodes %v", kind, ip, spreadConns, answered, perNode)
		if len(answered) < 2 {
			t.Errorf("%s %s: every connection answered by the same pod %v (of %v)", kind, ip, answered, backends)
		}
		entered := 0
		for _, c := range perNode {
			if c > 0 {
				entered++
			}
		}
		if entered < 2 {
			t.Errorf("%s %s: all connections entered the cluster at one node (%v): no ECMP at the ToR", kind, ip, perNode)
		}
	}

	localPolicy(ctx, t, tor, nodes, nodeIPs)
	rollout(ctx, t)

	e2eutil.LogStep(t, "Service backend deleted: its three addresses are withdrawn at the ToR")
	del := time.Now()
	mustKubectl(ctx, t, "-n", testNs, "delete", "service", "backend", "--wait=false")
	var gone []string
	_, err = e2eutil.WaitFor(torWait, 20*time.Millisecond, "ToR without "+strings.Join([]string{svc.Spec.ClusterIP, svcExternalIP, svcLBIP}, ", "), func() error {
		for _, kind := range kinds {
			if slices.Contains(gone, kind) {
				continue
			}
			hops, err := tor.nextHops(ctx, hostRoute(addrs[kind]))
			if err != nil {
				return err
			}
			if len(hops) == 0 {
				gone = append(gone, kind)
				timing(t, "Service deleted -> "+kind+" "+addrs[kind]+" withdrawn at the ToR", time.Since(del))
			}
		}
		if len(gone) < len(kinds) {
			return fmt.Errorf("withdrawn so far: %v", gone)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	timing(t, "Service deleted -> every address of it withdrawn at the ToR", time.Since(del))
}

// localPolicy: a Service with externalTrafficPolicy Local is announced by
// the nodes with a ready endpoint only, and the announcement follows the
// pods as they move, scale up and scale to zero.
func localPolicy(ctx context.Context, t *testing.T, tor torView, nodes []string, nodeIPs []netip.Addr) {
	first, last := nodes[0], nodes[len(nodes)-1]
	lb := hostRoute(svcLocalLBIP)
	e2eutil.LogStep(t, "Deployment local, 1 pod on %s, behind Service backend-local: LoadBalancer %s, externalTrafficPolicy Local", first, svcLocalLBIP)
	apply(ctx, t, backendManifest("local", 1, first))
	apply(ctx, t, serviceManifest("backend-local", "local", "Local", ""))
	setLBIngress(ctx, t, "backend-local", svcLocalLBIP)
	pods := waitPods(ctx, t, testNs, "app=local", 1, 2*time.Minute)
	took := waitToR(ctx, t, tor, lb, []netip.Addr{cluster.NodeAddr(cluster.NodeIndex(first))})
	timing(t, "ETP Local: Service with a ready pod on "+first+" -> announced by "+first+" only", took)
	e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "the client reaches "+svcLocalLBIP, func() error {
		body, err := clientGet(ctx, svcLocalLBIP)
		if err == nil && body != pods[0].Name {
			err = fmt.Errorf("answered by %q, want %q", body, pods[0].Name)
		}
		return err
	})

	// Local: no second hop and no SNAT, so the pod answers the client's own
	// address (Cluster answers the node that SNATed it).
	ct, _ := cl.InNode(ctx, first, "conntrack", "-L", "-p", "tcp", "-d", svcLocalLBIP)
	if want := fmt.Sprintf("src=%s dst=%s", pods[0].IP, cluster.ClientAddr); !strings.Contains(ct, want) {
		t.Errorf("node %s: no connection answered by the pod to the client itself (%q):\n%s", first, want, ct)
	} else {
		t.Logf("ETP Local keeps the client's address: node %s tracks replies %s", first, want)
	}

	e2eutil.LogStep(t, "the pod moves to %s (nodeSelector changed): the announcement moves with it", last)
	start := time.Now()
	mustKubectl(ctx, t, "-n", testNs, "patch", "deployment", "local", "--type=merge",
		`-p={"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"`+last+`"}}}}}`)
	took = waitToR(ctx, t, tor, lb, []netip.Addr{cluster.NodeAddr(cluster.NodeIndex(last))})
	timing(t, "ETP Local: pod moved "+first+" -> "+last+": announced by "+last+" only", took)
	t.Logf("(from the patch: %v, the new pod's start and readiness included)", time.Since(start).Round(10*time.Millisecond))

	e2eutil.LogStep(t, "scaled to %d, one per node: every node announces", len(nodes))
	mustKubectl(ctx, t, "-n", testNs, "patch", "deployment", "local", "--type=json",
		`-p=[{"op":"remove","path":"/spec/template/spec/nodeSelector"},{"op":"replace","path":"/spec/replicas","value":`+strconv.Itoa(len(nodes))+`}]`)
	took = waitToR(ctx, t, tor, lb, nodeIPs)
	timing(t, "ETP Local: scaled 1 -> "+strconv.Itoa(len(nodes))+": announced by every node", took)

	e2eutil.LogStep(t, "scaled to 0: withdrawn everywhere")
	mustKubectl(ctx, t, "-n", testNs, "scale", "deployment", "local", "--replicas=0")
	took = waitToR(ctx, t, tor, lb, nil)
	timing(t, "ETP Local: scaled to 0 -> withdrawn at the ToR", took)
}

// rollout restarts Deployment backend (maxSurge 1, maxUnavailable 0, a
// preStop sleep so a terminating pod serves until kube-proxy has dropped
// it) while the client connects to the LoadBalancer address in a loop.
func rollout(ctx context.Context, t *testing.T) {
	e2eutil.LogStep(t, "rolling update of Deployment backend while the client connects to %s in a loop", svcLBIP)
	var (
		mu       sync.Mutex
		ok, fail int
		failures []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Bounded in count and time, whatever happens to the test.
		deadline := time.Now().Add(5 * time.Minute)
		for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := time.Now()
			_, err := clientGet(ctx, svcLBIP)
			mu.Lock()
			if err != nil {
				fail++
				if len(failures) < 10 {
					failures = append(failures, fmt.Sprintf("%s: %v", at.Format("15:04:05.000"), err))
				}
			} else {
				ok++
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	stopLoop := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	defer stopLoop()
	// Requests answered before the update: the loop works at all.
	e2eutil.Eventually(t, 30*time.Second, 200*time.Millisecond, "the loop has 20 answers before the update", func() error {
		mu.Lock()
		defer mu.Unlock()
		if ok < 20 {
			return fmt.Errorf("%d answered, %d failed", ok, fail)
		}
		return nil
	})
	before := waitPods(ctx, t, testNs, "app=backend", len(cl.Nodes()), time.Minute)
	start := time.Now()
	mustKubectl(ctx, t, "-n", testNs, "rollout", "restart", "deployment/backend")
	mustKubectl(ctx, t, "-n", testNs, "rollout", "status", "deployment/backend", "--timeout=3m")
	rolled := time.Since(start)
	// Until the old pods are gone (their preStop sleep ends), then a little
	// more: the failures of interest come as they stop.
	e2eutil.Eventually(t, 90*time.Second, 500*time.Millisecond, "the old backend pods gone", func() error {
		cs := client(t)
		for _, p := range before {
			if _, err := cs.CoreV1().Pods(testNs).Get(ctx, p.Name, metav1.GetOptions{}); err == nil {
				return fmt.Errorf("pod %s still there", p.Name)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	stopLoop()
	mu.Lock()
	defer mu.Unlock()
	timing(t, "rolling update of Deployment backend (3 pods)", rolled)
	t.Logf("REQUESTS rolling update (ETP Cluster, %s): %d sent, %d answered, %d failed", svcLBIP, ok+fail, ok, fail)
	for _, f := range failures {
		t.Logf("failed request: %s", f)
	}
	if ok+fail < 100 {
		t.Errorf("only %d requests during the update: too few for the count to mean anything", ok+fail)
	}
	// ETP Cluster: every node announces throughout, so the ToR's paths do
	// not change; kube-proxy moves new connections to ready pods and the
	// preStop sleep keeps a terminating pod serving meanwhile. A failure is
	// a real loss for a client.
	if fail > 0 {
		t.Errorf("%d of %d requests failed during the rolling update", fail, ok+fail)
	}
}

// backendManifest is a Deployment of web servers answering their pod name,
// one per node (or all on node when set), rolled one surge pod at a time
// with no pod unavailable, each draining for 8 s before it stops.
func backendManifest(name string, replicas int, node string) string {
	selector := ""
	if node != "" {
		selector = "      nodeSelector: {kubernetes.io/hostname: " + node + "}\n"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 20
%[5]s      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: %[1]s}}}
      containers:
        - name: web
          image: %[4]s
          imagePullPolicy: Never
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
          # The endpoint is marked terminating at once; kube-proxy on every
          # node needs a moment to stop sending new connections here.
          lifecycle: {preStop: {exec: {command: ["sleep", "8"]}}}
`, name, testNs, replicas, cluster.ToolsImage, selector)
}

// serviceManifest is a LoadBalancer Service for app's pods with the given
// externalTrafficPolicy and external IP (none when empty).
func serviceManifest(name, app, etp, externalIP string) string {
	ext := ""
	if externalIP != "" {
		ext = "  externalIPs: [" + externalIP + "]\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  type: LoadBalancer
  externalTrafficPolicy: %s
  selector: {app: %s}
  ports: [{port: 80, targetPort: 8080}]
%s`, name, testNs, etp, app, ext)
}

// setLBIngress writes the Service's status.loadBalancer.ingress as a load
// balancer controller (MetalLB's, kube-vip's) would.
func setLBIngress(ctx context.Context, t *testing.T, name, ip string) *corev1.Service {
	t.Helper()
	api := client(t).CoreV1().Services(testNs)
	svc, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if svc, err = api.UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("Service %s: writing status.loadBalancer: %v", name, err)
	}
	return svc
}

// clientGet fetches http://ip/ from the client namespace behind the ToR.
func clientGet(ctx context.Context, ip string) (string, error) {
	return httpGetIn(ctx, "/run/netns/"+cluster.ClientNetns, "the client", "http://"+ip+"/")
}

// flushConntrack forgets the nodes' connection-tracking entries to ip (the
// earlier waits' connections), so that conntrackCounts counts this round.
func flushConntrack(ctx context.Context, nodes []string, ip string) {
	for _, n := range nodes {
		// Exit status 1 when there was nothing to delete.
		_, _ = cl.InNode(ctx, n, "conntrack", "-D", "-p", "tcp", "-d", ip)
	}
}

var flowEntries = regexp.MustCompile(`(\d+) flow entries have been shown`)

// conntrackCounts is, per node, how many TCP connections to ip its
// connection tracking holds: where the ToR sent each.
func conntrackCounts(ctx context.Context, t *testing.T, nodes []string, ip string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range nodes {
		raw, err := cl.InNode(ctx, n, "conntrack", "-L", "-p", "tcp", "-d", ip)
		m := flowEntries.FindStringSubmatch(raw)
		if m == nil {
			t.Errorf("node %s: conntrack -L -d %s: %v: %s", n, ip, err, raw)
			continue
		}
		out[n], _ = strconv.Atoi(m[1])
	}
	return out
}

// torView reads the ToR's RIB and FIB for a prefix.
type torView struct{ *cluster.ToR }

// nextHops are the next hops of the ToR's best and multipath (ECMP) paths
// to prefix, sorted; none when it has no valid path.
func (v torView) nextHops(ctx context.Context, prefix netip.Prefix) ([]netip.Addr, error) {
	table, err := v.BGPTable(ctx)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, p := range table[prefix] {
		if p.Valid && (p.Best || p.Multipath) && len(p.NextHops) > 0 {
			out = append(out, p.NextHops[0])
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// kernelRoute is what zebra installed in the ToR's kernel for ip.
func (v torView) kernelRoute(ctx context.Context, ip string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", cluster.ToRNetns, "route", "show", ip+"/32").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// waitToR waits until the ToR routes prefix over exactly want (no route
// when want is empty) and returns how long that took.
func waitToR(ctx context.Context, t *testing.T, tor torView, prefix netip.Prefix, want []netip.Addr) time.Duration {
	t.Helper()
	what := fmt.Sprintf("the ToR routes %s over %v", prefix, want)
	if len(want) == 0 {
		what = fmt.Sprintf("the ToR has no route to %s", prefix)
	}
	return e2eutil.Eventually(t, torWait, 50*time.Millisecond, what, func() error {
		got, err := tor.nextHops(ctx, prefix)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("next hops %v", got)
		}
		return nil
	})
}

// hostRoute is the /32 of a Service address.
func hostRoute(ip string) netip.Prefix {
	a := netip.MustParseAddr(ip)
	return netip.PrefixFrom(a, a.BitLen())
}
