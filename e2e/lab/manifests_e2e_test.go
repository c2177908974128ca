//go:build e2e

package lab

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManifests checks every install manifest under daemonset/ against a real
// kube-apiserver with server-side dry-run: schema, defaulting and validation as a
// cluster would run them, without creating anything. It also fails while
// daemonset/generic.yaml is stale. No network namespaces: only loopback.
func TestManifests(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, _ := FindTools(root) // the router binary and CNI plugins are not needed here
	for _, tool := range []string{tools.KubeAPIServer, tools.Kubectl} {
		if err := checkExecutable(tool); err != nil {
			t.Skipf("run `make tools`: %v", err)
		}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skipf("etcd not installed, run `make deps`: %v", err)
	}
	dsDir := filepath.Join(root, "daemonset")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("generic.yaml is the rendered kubeadm overlay", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "generic.yaml")
		cmd := exec.CommandContext(ctx, filepath.Join(dsDir, "render.sh"), fresh)
		cmd.Env = append(os.Environ(), "KUBECTL="+tools.Kubectl)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("daemonset/render.sh: %v\n%s", err, out)
		}
		want, err := os.ReadFile(fresh)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dsDir, "generic.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("daemonset/generic.yaml is stale: run daemonset/render.sh and commit the result")
		}
	})

	cp := startManifestsControlPlane(ctx, t, tools)

	tests := []struct {
		name     string
		manifest func(*testing.T) []byte
		want     []string // substrings of the rendered manifest
	}{
		{"base", kustomize(ctx, tools, filepath.Join(dsDir, "base")), []string{"cluster-cidr: 10.244.0.0/16", "image: ghcr.io/nodebgp/router:v0.1.0", "imagePullPolicy: IfNotPresent"}},
		{"kubeadm overlay", kustomize(ctx, tools, filepath.Join(dsDir, "overlays", "kubeadm")), []string{"cluster-cidr: 10.244.0.0/16", "path: /opt/cni/bin"}},
		{"rke2 overlay", kustomize(ctx, tools, filepath.Join(dsDir, "overlays", "rke2")), []string{"cluster-cidr: 10.42.0.0/16", "path: /opt/cni/bin", "path: /etc/cni/net.d"}},
		{"generic.yaml", readFile(filepath.Join(dsDir, "generic.yaml")), []string{"kind: DaemonSet", "kind: ClusterRoleBinding"}},
		{"cleanup.yaml", readFile(filepath.Join(dsDir, "cleanup.yaml")), []string{"- cleanup"}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is accepted by the apiserver", func(t *testing.T) {
			manifest := tc.manifest(t)
			for _, s := range tc.want {
				if !bytes.Contains(manifest, []byte(s)) {
					t.Errorf("rendered manifest lacks %q", s)
				}
			}
			if out, err := dryRunApply(ctx, tools, cp, manifest); err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
			}
		})
	}

	// Proves the dry run validates at all, so the passes above mean something.
	t.Run("an invalid DaemonSet is refused", func(t *testing.T) {
		bad := []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nodebgp-invalid, namespace: kube-system}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: x}]}
`)
		out, err := dryRunApply(ctx, tools, cp, bad)
		if err == nil {
			t.Fatalf("dry run accepted a DaemonSet whose selector does not match its template:\n%s", out)
		}
		if !strings.Contains(string(out), "selector") {
			t.Fatalf("refused for another reason than the selector: %s", out)
		}
	})
}

// startManifestsControlPlane runs etcd and kube-apiserver in a dir of this
// test's own, on free loopback ports, so neither a running lab nor the control
// plane test can collide with it; a leftover of a crashed run is stopped first.
func startManifestsControlPlane(ctx context.Context, t *testing.T, tools Tools) *ControlPlane {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "nodebgp-manifests-test")
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
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("control plane files and logs kept in %s", dir)
		}
	})
	start := time.Now()
	cp, err := StartControlPlane(ctx, ControlPlaneParams{
		Dir:            dir,
		Tools:          tools,
		Address:        netip.MustParseAddr("127.0.0.1"),
		Port:           freePort(t),
		EtcdClientPort: freePort(t),
		EtcdPeerPort:   freePort(t),
	})
	if err != nil {
		t.Fatalf("StartControlPlane: %v", err)
	}
	t.Logf("control plane at %s ready in %v", cp.URL, time.Since(start).Round(time.Millisecond))
	return cp
}

func kustomize(ctx context.Context, tools Tools, dir string) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, tools.Kubectl, "kustomize", dir)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.Bytes())
		}
		return out
	}
}

func readFile(path string) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// dryRunApply asks the apiserver to admit and validate manifest without
// persisting it; strict validation also refuses unknown fields.
func dryRunApply(ctx context.Context, tools Tools, cp *ControlPlane, manifest []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, tools.Kubectl, "--kubeconfig", cp.AdminKubeconfig,
		"apply", "--dry-run=server", "--validate=strict", "-f", "-")
	cmd.Stdin = bytes.NewReader(manifest)
	return cmd.CombinedOutput()
}
