//go:build e2e

package lab

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// upLab brings a full lab up, skipping when the tools are not built.
func upLab(ctx context.Context, t *testing.T, dir string) *Lab {
	t.Helper()
	l, err := Up(ctx, Options{Dir: dir, Nodes: 3, Logf: t.Logf})
	if err != nil {
		if l != nil {
			l.Dump(ctx, testWriter{t})
		}
		t.Fatalf("lab up: %v", err)
	}
	return l
}

// testWriter sends a Dump to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func TestUpTwiceReusesTheLabAndPodsReachEachOtherAcrossNodes(t *testing.T) {
	requireRoot(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FindTools(root); err != nil {
		t.Skipf("lab tools missing: %v", err)
	}
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	first := upLab(ctx, t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			first.Dump(context.Background(), testWriter{t})
		}
	})
	for _, from := range first.Nodes {
		for _, to := range first.Nodes {
			if from != to {
				ping(ctx, t, from.Pod.Netns, to.Pod.IP.String())
			}
		}
	}
	pids := map[string]int{}
	for _, node := range first.Nodes {
		p, err := LoadProcess(dir, AgentProcess(node))
		if err != nil {
			t.Fatal(err)
		}
		pids[node.Name] = p.PID
	}

	second := upLab(ctx, t, dir)
	for i, node := range second.Nodes {
		if node.Pod == nil || node.Pod.IP != first.Nodes[i].Pod.IP {
			t.Errorf("%s: pod after the second Up = %+v, want the first run's %s", node.Name, node.Pod, first.Nodes[i].Pod.IP)
		}
		p, err := LoadProcess(dir, AgentProcess(node))
		if err != nil {
			t.Errorf("%s: agent after the second Up: %v", node.Name, err)
		} else if p.PID != pids[node.Name] {
			t.Errorf("%s: agent restarted by the second Up (pid %d, was %d)", node.Name, p.PID, pids[node.Name])
		}
	}
}

func TestAFourthNodeJoinsTheMeshAndLeavesWithoutATrace(t *testing.T) {
	requireRoot(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FindTools(root); err != nil {
		t.Skipf("lab tools missing: %v", err)
	}
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l := upLab(ctx, t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			l.Dump(context.Background(), testWriter{t})
		}
	})

	node4, err := l.AddNode(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	pod4, err := l.CreatePod(ctx, node4)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitSessions(ctx, sessionTimeout); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, l.Nodes[0].Pod.Netns, pod4.IP.String())

	if err := l.RemoveNode(ctx, node4); err != nil {
		t.Fatal(err)
	}
	if netnsExists(node4.Netns) || netnsExists(pod4.Netns) || l.NodeByName(node4.Name) != nil {
		t.Errorf("%s still in the lab after RemoveNode", node4.Name)
	}
	if _, err := l.CP.client.CoreV1().Nodes().Get(ctx, node4.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Node object %s after RemoveNode: %v, want NotFound", node4.Name, err)
	}
	reloaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reloaded.Nodes) != 3 {
		t.Errorf("lab.json holds %d nodes after RemoveNode, want 3", len(reloaded.Nodes))
	}
}
