//go:build e2e

package lab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// freePort asks the kernel for a free loopback port, so this test never collides
// with a running lab (6443, 23790, 23800) or a packaged etcd (2379).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestControlPlaneAgentTokenHasOnlyTheManifestsPermissions(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := FindTools(root)
	if _, statErr := os.Stat(tools.KubeAPIServer); statErr != nil {
		t.Skipf("kube-apiserver not built, run `make tools`: %v", err)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skipf("etcd not installed, run `make deps`: %v", err)
	}

	// A fixed dir, so a crashed earlier run's etcd and apiserver are found by their
	// pid files and stopped before this run starts.
	dir := filepath.Join(os.TempDir(), "nodebgp-controlplane-test")
	if err := StopControlPlane(dir); err != nil {
		t.Fatalf("stopping a leftover control plane: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := StopControlPlane(dir); err != nil {
			t.Errorf("StopControlPlane: %v", err)
		}
		for _, name := range []string{apiserverProcess, etcdProcess} {
			if p, err := LoadProcess(dir, name); err == nil && p.Alive() {
				t.Errorf("%s still running as pid %d after StopControlPlane", name, p.PID)
			}
		}
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("control plane files and logs kept in %s", dir)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	params := ControlPlaneParams{
		Dir:            dir,
		Tools:          tools,
		Address:        netip.MustParseAddr("127.0.0.1"),
		Port:           freePort(t),
		EtcdClientPort: freePort(t),
		EtcdPeerPort:   freePort(t),
	}
	start := time.Now()
	cp, err := StartControlPlane(ctx, params)
	if err != nil {
		t.Fatalf("StartControlPlane: %v", err)
	}
	t.Logf("control plane at %s ready in %v", cp.URL, time.Since(start).Round(time.Millisecond))

	t.Run("starting again reuses the running processes", func(t *testing.T) {
		before, err := LoadProcess(dir, apiserverProcess)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := StartControlPlane(ctx, params); err != nil {
			t.Fatalf("second StartControlPlane: %v", err)
		}
		after, err := LoadProcess(dir, apiserverProcess)
		if err != nil {
			t.Fatal(err)
		}
		if after.PID != before.PID || !after.Alive() {
			t.Fatalf("kube-apiserver pid %d -> %d (alive=%v), want the same process reused", before.PID, after.PID, after.Alive())
		}
	})

	admin, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-test-node"}}
	if _, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creating node: %v", err)
	}

	manifest := filepath.Join(root, "daemonset", "base", "rbac.yaml")
	// Twice: the second pass takes the update path.
	for i := 0; i < 2; i++ {
		if err := cp.ApplyRBAC(ctx, manifest); err != nil {
			t.Fatalf("ApplyRBAC pass %d: %v", i+1, err)
		}
	}
	agentKubeconfig := filepath.Join(dir, "agent.kubeconfig")
	if err := cp.AgentKubeconfig(ctx, "kube-system", "nodebgp", agentKubeconfig); err != nil {
		t.Fatalf("AgentKubeconfig: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", agentKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSClientConfig.Insecure || len(cfg.TLSClientConfig.CAData) == 0 {
		t.Fatal("agent kubeconfig does not verify the apiserver's certificate")
	}
	agent, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		call          func(*testing.T, kubernetes.Interface) error
		wantForbidden bool
	}{
		{"agent lists nodes", func(t *testing.T, c kubernetes.Interface) error {
			nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err == nil && len(nodes.Items) != 1 {
				t.Errorf("agent listed %d nodes, want 1", len(nodes.Items))
			}
			return err
		}, false},
		{"agent creates an event", func(t *testing.T, c kubernetes.Interface) error {
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{GenerateName: "cp-test-", Namespace: metav1.NamespaceDefault},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node.Name},
				Reason:         "Test", Message: "rbac check", Type: corev1.EventTypeNormal,
			}
			_, err := c.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{})
			return err
		}, false},
		{"agent is forbidden to list secrets cluster-wide", func(t *testing.T, c kubernetes.Interface) error {
			_, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{"agent is forbidden to create pods", func(t *testing.T, c kubernetes.Interface) error {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "cp-test-pod", Namespace: metav1.NamespaceDefault},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
			}
			_, err := c.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, pod, metav1.CreateOptions{})
			return err
		}, true},
		{"agent is forbidden to update nodes", func(t *testing.T, c kubernetes.Interface) error {
			n, err := admin.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("admin getting node: %v", err)
			}
			n.Labels = map[string]string{"nodebgp.io/test": "x"}
			_, err = c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t, agent)
			switch {
			case tc.wantForbidden && !apierrors.IsForbidden(err):
				t.Fatalf("got %v, want Forbidden", err)
			case !tc.wantForbidden && err != nil:
				t.Fatalf("got %v, want allowed", err)
			}
		})
	}
}
