//go:build e2e

package lab

import (
	"context"
	"testing"
	"time"
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
