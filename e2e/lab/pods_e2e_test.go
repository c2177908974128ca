//go:build e2e

package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testConflist is what the agent writes for node 1, by hand, so labcni and
// the pod steps are tested without the agent.
const testConflist = `{
  "cniVersion": "1.0.0",
  "name": "nodebgp",
  "plugins": [
    {"type": "bridge", "bridge": "nodebgp0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "IPAMDIR", "ranges": [[{"subnet": "10.244.1.0/24"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`

// podLab is a lab with the fabric and node 1, no control plane, and node 1's
// conflist written by hand.
func podLab(ctx context.Context, t *testing.T) (*Lab, *Node) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, _ := FindTools(root)
	if _, err := os.Stat(filepath.Join(tools.CNIBinDir, "bridge")); err != nil {
		t.Skipf("CNI plugins not built in %s (make tools): %v", tools.CNIBinDir, err)
	}
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	l := newLab(Options{Dir: dir, Logf: t.Logf}, root, tools)
	if err := os.MkdirAll(l.BinDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := buildLabcni(ctx, root, l.Pods.driver); err != nil {
		t.Fatal(err)
	}
	if err := ensureFabric(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeNetwork(ctx, 1); err != nil {
		t.Fatal(err)
	}
	node := newNode(dir, 1)
	for _, d := range []string{node.ConfDir, node.IPAMDir, node.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Agents.installCNI(ctx, node); err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(testConflist, "IPAMDIR", node.IPAMDir, 1)
	if err := os.WriteFile(filepath.Join(node.ConfDir, ConflistName), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Nodes = []*Node{node}
	return l, node
}

func hostPortRules(ctx context.Context, t *testing.T, node *Node) string {
	t.Helper()
	out, err := runCommand(ctx, "ip", "netns", "exec", node.Netns, "iptables-save", "-t", "nat")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "--dport 8080") {
			rules = append(rules, line)
		}
	}
	return strings.Join(rules, "\n")
}

func TestCreatePodWiresThePodThroughTheNodesConflist(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, node := podLab(ctx, t)

	pod, err := l.CreatePod(ctx, node, PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	if !node.PodCIDR.Contains(pod.IP) {
		t.Fatalf("pod IP %s is outside the node's %s", pod.IP, node.PodCIDR)
	}
	ping(ctx, t, node.Netns, pod.IP.String())
	if _, err := os.Stat(filepath.Join(node.IPAMDir, NetworkName, pod.IP.String())); err != nil {
		t.Errorf("no host-local lease for %s in the node's own IPAM dir: %v", pod.IP, err)
	}
	if rules := hostPortRules(ctx, t, node); rules == "" {
		t.Errorf("no portmap DNAT rule for hostPort 8080 in %s", node.Netns)
	}
	if _, err := l.CreatePod(ctx, node); err == nil {
		t.Errorf("a second pod on %s was accepted", node.Name)
	}

	if err := l.DeletePod(ctx, node); err != nil {
		t.Fatal(err)
	}
	if netnsExists(pod.Netns) {
		t.Errorf("pod namespace %s still exists", pod.Netns)
	}
	if _, err := os.Stat(filepath.Join(node.IPAMDir, NetworkName, pod.IP.String())); !os.IsNotExist(err) {
		t.Errorf("host-local lease for %s not released: %v", pod.IP, err)
	}
	if rules := hostPortRules(ctx, t, node); rules != "" {
		t.Errorf("portmap rules left after DEL:\n%s", rules)
	}
}

func TestDownRunsCNIDelWithThePortMappingsFromTheCache(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, node := podLab(ctx, t)
	pod, err := l.CreatePod(ctx, node, PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	// Down's pod step knows nothing but the namespaces, as after a crash.
	if err := deletePods(ctx, l.Opts.Dir); err != nil {
		t.Fatal(err)
	}
	if rules := hostPortRules(ctx, t, node); rules != "" {
		t.Errorf("portmap rules left after DEL without mappings:\n%s", rules)
	}
	if _, err := os.Stat(filepath.Join(node.IPAMDir, NetworkName, pod.IP.String())); !os.IsNotExist(err) {
		t.Errorf("host-local lease for %s not released: %v", pod.IP, err)
	}
}
