//go:build e2e

package clustersuite

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/cluster"
	"github.com/nodebgp/router/e2e/e2eutil"
)

// badConfig breaks one thing an operator can get wrong, restarts the agents
// and wants a clear answer on the first node's agent, not a silent black
// hole: a Kubernetes Event and a log line that name the problem (each
// contains every one of words), and /readyz (the readiness probe) failing.
// restore undoes the change; the agents must be Ready again after it.
func badConfig(ctx context.Context, t *testing.T, words []string, breakIt, restore func(t *testing.T)) {
	node := cl.Nodes()[0]
	addr := cluster.NodeAddr(cluster.NodeIndex(node)).String()
	old := map[string]bool{}
	for _, p := range agentPods(ctx, t, agentSelector) {
		old[string(p.UID)] = true
	}
	breakIt(t)
	defer func() {
		restore(t)
		mustKubectl(context.Background(), t, "-n", "kube-system", "rollout", "restart", "daemonset/nodebgp")
		if _, err := kubectl(context.Background(), "-n", "kube-system", "rollout", "status", "daemonset/nodebgp", "--timeout=180s"); err != nil {
			t.Errorf("agents not back after the fix: %v", err)
		}
	}()
	mustKubectl(ctx, t, "-n", "kube-system", "rollout", "restart", "daemonset/nodebgp")
	// The rollout replaces node by node; wait for the new pod on any node.
	var agent string
	e2eutil.Eventually(t, 90*time.Second, time.Second, "a restarted agent", func() error {
		for n, p := range agentPods(ctx, t, agentSelector) {
			if !old[string(p.UID)] && p.Spec.NodeName != "" {
				node, agent = n, p.Name
				addr = cluster.NodeAddr(cluster.NodeIndex(n)).String()
				return nil
			}
		}
		return fmt.Errorf("no agent pod made after the change yet")
	})
	e2eutil.LogStep(t, "agent %s on %s after the change", agent, node)
	var problems []string
	// Not ready means: its health server answers, and /readyz says no for a
	// while (not just during its first seconds).
	_, err := e2eutil.WaitFor(60*time.Second, time.Second, "the agent's health server answers", func() error {
		_, err := healthz(ctx, addr, "/readyz")
		return err
	})
	if err != nil {
		problems = append(problems, fmt.Sprintf("agent on %s: %v", node, err))
	} else {
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
			if code, err := healthz(ctx, addr, "/readyz"); err == nil && code == http.StatusOK {
				problems = append(problems, fmt.Sprintf("agent on %s: /readyz answers 200", node))
				break
			}
		}
	}
	logs, _ := kubectl(ctx, "-n", "kube-system", "logs", agent, "-c", "router")
	if !containsAll(logs, words) {
		problems = append(problems, fmt.Sprintf("agent %s: no log line naming %q; its log:\n%s", agent, words, tail(logs, 15)))
	}
	events, err := client(t).CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events.Items {
		if ev.Source.Component == "nodebgp" && containsAll(ev.Message, words) {
			found = true
			e2eutil.LogStep(t, "event %s on %s/%s: %s", ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Message)
		}
	}
	if !found {
		problems = append(problems, fmt.Sprintf("no Event from nodebgp naming %q", words))
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func containsAll(s string, words []string) bool {
	s = strings.ToLower(s)
	for _, w := range words {
		if !strings.Contains(s, strings.ToLower(w)) {
			return false
		}
	}
	return true
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// badClusterCIDR: the ConfigMap's cluster-cidr does not contain the nodes'
// pod CIDRs (kubeadm's 10.244.0.0/16 left on an RKE2 cluster, say).
func badClusterCIDR(ctx context.Context, t *testing.T) {
	patch := func(cidr string) func(t *testing.T) {
		return func(t *testing.T) {
			mustKubectl(ctx, t, "-n", "kube-system", "patch", "configmap", "nodebgp-config", "--type=merge", `-p={"data":{"cluster-cidr":"`+cidr+`"}}`)
		}
	}
	badConfig(ctx, t, []string{"cluster-cidr", "10.99.0.0/16"}, patch("10.99.0.0/16"), patch(cl.ClusterCIDR))
}

// missingPermission: the ClusterRole lost list and watch on nodes.
func missingPermission(ctx context.Context, t *testing.T) {
	set := func(verbs string) func(t *testing.T) {
		return func(t *testing.T) {
			mustKubectl(ctx, t, "patch", "clusterrole", "nodebgp", "--type=json", `-p=[{"op":"replace","path":"/rules/0/verbs","value":`+verbs+`}]`)
		}
	}
	badConfig(ctx, t, []string{"forbidden", "nodes"}, set(`["get"]`), set(`["get","list","watch"]`))
}

// nodeWithoutPodCIDR: a node joins while kube-controller-manager does not
// allocate pod CIDRs. Its agent must say so (Event, log line naming the pod
// CIDR) and stay not ready; once allocation is back the node turns Ready.
func nodeWithoutPodCIDR(ctx context.Context, t *testing.T) {
	const i = 4
	name := cluster.NodeName(i)
	addr := cluster.NodeAddr(i).String()
	if err := cl.StopControllerManager(); err != nil {
		t.Fatal(err)
	}
	if err := cl.StartControllerManager(false); err != nil {
		t.Fatal(err)
	}
	allocating := false
	defer func() {
		if !allocating {
			_ = cl.StopControllerManager()
			_ = cl.StartControllerManager(true)
		}
		_, _ = kubectl(context.Background(), "delete", "node", name, "--timeout=30s")
		if err := cl.StopNode(name); err != nil {
			t.Error(err)
		}
	}()
	if err := cl.AddNode(ctx, i); err != nil {
		t.Fatal(err)
	}
	var agent string
	e2eutil.Eventually(t, 2*time.Minute, time.Second, "an agent pod on "+name, func() error {
		if p, ok := agentPods(ctx, t, agentSelector)[name]; ok && p.Status.Phase == "Running" {
			agent = p.Name
			return nil
		}
		return fmt.Errorf("none running yet")
	})
	n, err := client(t).CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.PodCIDR != "" {
		t.Fatalf("node %s got pod CIDR %s with allocation off", name, n.Spec.PodCIDR)
	}
	time.Sleep(20 * time.Second)
	if code, err := healthz(ctx, addr, "/readyz"); err == nil && code == http.StatusOK {
		t.Errorf("agent on %s: /readyz answers 200 without a pod CIDR", name)
	}
	logs, _ := kubectl(ctx, "-n", "kube-system", "logs", agent, "-c", "router")
	if !containsAll(logs, []string{"pod CIDR"}) {
		t.Errorf("agent %s: no log line about the missing pod CIDR:\n%s", agent, tail(logs, 10))
	} else {
		e2eutil.LogStep(t, "agent log: %s", grepLines(logs, "pod CIDR"))
	}
	events, err := client(t).CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events.Items {
		if ev.Source.Component == "nodebgp" && ev.InvolvedObject.Name == name && containsAll(ev.Message, []string{"pod CIDR"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("no Event from nodebgp on node %s about its missing pod CIDR", name)
	}
	e2eutil.LogStep(t, "allocation back: %s gets a pod CIDR and turns Ready", name)
	if err := cl.StopControllerManager(); err != nil {
		t.Fatal(err)
	}
	if err := cl.StartControllerManager(true); err != nil {
		t.Fatal(err)
	}
	allocating = true
	start := time.Now()
	if err := cl.WaitReady(ctx, []string{name}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	timing(t, "pod CIDR allocation back -> node Ready", time.Since(start))
}
