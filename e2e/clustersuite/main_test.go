//go:build e2e

// Package clustersuite proves nodebgp's install path on real worker nodes:
// kubelet + containerd + runc + kube-proxy per node (e2e/cluster), the
// manifests applied with kubectl as users apply them, the image imported into
// each node's containerd under the manifests' own reference, and pods created
// by the kubelet through the CNI config the agent wrote.
//
// One cluster serves the steps in TestCluster, in order; the rke2 step brings
// up a fresh one. `make e2e-cluster` runs it under /tmp/nodebgp-cluster.lock.
package clustersuite

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/cluster"
)

var (
	// cl is the running cluster; steps that replace it (rke2) set it anew.
	cl        *cluster.Cluster
	opts      cluster.Options
	artifacts string
	repoRoot  string
	// kubeadmOverlay is what step 01 applied (the kubeadm overlay with the
	// API server's address), for the uninstall step to delete.
	kubeadmOverlay string
)

const downTimeout = 5 * time.Minute

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("clustersuite: needs root (it makes namespaces, cgroups and mounts)")
		return 1
	}
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	artifacts = envOr("E2E_ARTIFACTS", filepath.Join(repoRoot, "_output", "e2e-cluster"))
	_ = os.RemoveAll(artifacts)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		fmt.Println("clustersuite:", err)
		return 1
	}
	toolsDir := envOr("TOOLS_DIR", filepath.Join(repoRoot, ".cache", "tools"))
	if !filepath.IsAbs(toolsDir) {
		toolsDir = filepath.Join(repoRoot, toolsDir)
	}
	opts = cluster.Options{
		Dir:         cluster.DefaultDir,
		Nodes:       3,
		Tools:       cluster.Tools{Dir: toolsDir, Pause: envOr("CLUSTER_PAUSE", filepath.Join(repoRoot, "_output", "bin", "clusterpause"))},
		RouterImage: envOr("ROUTER_IMAGE", "ghcr.io/nodebgp/router:"+release()),
	}
	// Tear down on SIGINT/SIGTERM and before `go test -timeout` panics,
	// which would leave the cluster running.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	deadline := time.Now().Add(55 * time.Minute)
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			deadline = time.Now().Add(d - 2*time.Minute)
		}
	}
	go func() {
		select {
		case sig := <-stop:
			fmt.Printf("clustersuite: %v: tearing the cluster down\n", sig)
		case <-time.After(time.Until(deadline)):
			fmt.Println("clustersuite: the test timeout is near: tearing the cluster down")
		}
		_ = cluster.Down(opts)
		os.Exit(1)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	start := time.Now()
	c, err := cluster.Up(ctx, opts)
	cancel()
	if err != nil {
		fmt.Println("clustersuite: cluster up:", err)
		return 1
	}
	fmt.Printf("clustersuite: TIMING cluster up (3 nodes registered, NotReady): %v\n", time.Since(start).Round(time.Millisecond))
	cl = c
	code := m.Run()
	if code != 0 {
		saveLogs("final")
	}
	if err := cluster.Down(opts); err != nil {
		fmt.Println("clustersuite: cluster down:", err)
		return 1
	}
	return code
}

func release() string {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
	if err != nil {
		return "v0.0.0"
	}
	return string(trimSpace(raw))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
