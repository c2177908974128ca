package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOptionsDefaultsComeFromLabDirAndTheProductDefaults(t *testing.T) {
	t.Setenv("LAB_DIR", "/tmp/from-env")
	tests := []struct {
		name    string
		in      Options
		dir     string
		nodes   int
		period  time.Duration
		wantErr bool
	}{
		{name: "zero options", dir: "/tmp/from-env", nodes: 3, period: 5 * time.Second},
		{name: "explicit values win", in: Options{Dir: "/srv/lab", Nodes: 4, RoutesSyncPeriod: time.Second}, dir: "/srv/lab", nodes: 4, period: time.Second},
		{name: "too many nodes", in: Options{Nodes: MaxNodes + 1}, wantErr: true},
		{name: "negative nodes", in: Options{Nodes: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.Dir != tt.dir || got.Nodes != tt.nodes || got.RoutesSyncPeriod != tt.period || got.Logf == nil {
				t.Errorf("withDefaults = dir %s nodes %d period %s logf set %v; want %s %d %s true",
					got.Dir, got.Nodes, got.RoutesSyncPeriod, got.Logf != nil, tt.dir, tt.nodes, tt.period)
			}
		})
	}
}

func TestOptionsDefaultDirWithoutLabDir(t *testing.T) {
	t.Setenv("LAB_DIR", "")
	got, err := Options{}.withDefaults()
	if err != nil || got.Dir != DefaultDir {
		t.Errorf("withDefaults dir = %q, %v; want %s", got.Dir, err, DefaultDir)
	}
}

func TestRemoveLabDirRemovesOnlyWhatTheLabMade(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(dir string)
		wantErr     bool
		wantRemoved bool
	}{
		{
			name: "marked lab dir with content",
			setup: func(dir string) {
				mustWrite(t, filepath.Join(dir, markerFile))
				mustWrite(t, filepath.Join(dir, "node1", "ipam", "lease"))
			},
			wantRemoved: true,
		},
		{name: "empty dir", setup: func(string) {}, wantRemoved: true},
		{
			name:    "unmarked dir with someone's files",
			setup:   func(dir string) { mustWrite(t, filepath.Join(dir, "thesis.tex")) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lab")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(dir)
			err := removeLabDir(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("removeLabDir error = %v, wantErr %v", err, tt.wantErr)
			}
			if _, statErr := os.Stat(dir); os.IsNotExist(statErr) != tt.wantRemoved {
				t.Errorf("dir removed = %v, want %v", os.IsNotExist(statErr), tt.wantRemoved)
			}
		})
	}
}

func TestRemoveLabDirOfAMissingDirIsNotAnError(t *testing.T) {
	if err := removeLabDir(filepath.Join(t.TempDir(), "gone")); err != nil {
		t.Errorf("removeLabDir = %v, want nil", err)
	}
}

func TestStateRoundTripRestoresNodesAndPods(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(adminKubeconfigForTest), 0o600); err != nil {
		t.Fatal(err)
	}
	pm := PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}
	saved := newLab(Options{Dir: dir}, "", Tools{})
	saved.CP = &ControlPlane{Dir: dir, URL: "https://10.199.1.1:6443", AdminKubeconfig: kubeconfig}
	saved.Nodes = []*Node{newNode(dir, 1), newNode(dir, 4)}
	saved.Nodes[1].Pod = &Pod{Netns: "lab-pod4", IP: NodePodCIDR(4).Addr().Next().Next(), ContainerID: "lab-pod4", PortMappings: []PortMapping{pm}}
	if err := saved.saveState(); err != nil {
		t.Fatal(err)
	}

	st, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded := newLab(Options{Dir: dir}, "", Tools{})
	if err := loaded.adopt(st); err != nil {
		t.Fatal(err)
	}
	if len(loaded.Nodes) != 2 || loaded.Nodes[0].Name != "lab-node1" || loaded.Nodes[1].Name != "lab-node4" {
		t.Fatalf("loaded nodes = %v, want lab-node1 and lab-node4", loaded.Nodes)
	}
	if loaded.Nodes[0].Pod != nil {
		t.Errorf("lab-node1 pod = %+v, want none", loaded.Nodes[0].Pod)
	}
	pod := loaded.Nodes[1].Pod
	if pod == nil || pod.IP.String() != "10.244.4.2" || len(pod.PortMappings) != 1 || pod.PortMappings[0] != pm {
		t.Errorf("lab-node4 pod = %+v, want 10.244.4.2 with %s", pod, pm)
	}
	if loaded.CP.URL != saved.CP.URL || loaded.Agents.Kubeconfig != saved.Agents.Kubeconfig || loaded.CP.client == nil {
		t.Errorf("loaded control plane %+v, agent kubeconfig %s, client set %v", loaded.CP, loaded.Agents.Kubeconfig, loaded.CP.client != nil)
	}
}

const adminKubeconfigForTest = `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://10.199.1.1:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: test
contexts:
- name: lab
  context: {cluster: lab, user: admin}
current-context: lab
`

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
