//go:build e2e

package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// requireRoot skips tests that build namespaces when not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
}

// cleanLab removes leftovers of an earlier crashed run now and everything the
// test makes at the end, also after a failure, and then checks that nothing of
// the lab is left on the machine.
func cleanLab(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Down(ctx, dir); err != nil {
		t.Fatalf("removing leftovers: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := Down(ctx, dir); err != nil {
			t.Errorf("lab down: %v", err)
		}
		assertNothingLeft(t, dir)
	})
}

func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if names, err := labNamespaces(ctx); err != nil || len(names) > 0 {
		t.Errorf("after Down: lab namespaces %q (%v), want none", names, err)
	}
	if linkExists(ctx, "", cpLink) {
		t.Errorf("after Down: link %s still exists", cpLink)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Down: %s still exists (%v)", dir, err)
	}
}

func ping(ctx context.Context, t *testing.T, netns, addr string) {
	t.Helper()
	args := []string{"ping", "-c", "1", "-W", "2", addr}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	if out, err := runCommand(ctx, args[0], args[1:]...); err != nil {
		t.Errorf("ping %s from %q: %v\n%s", addr, netns, err, out)
	}
}

func TestFabricConnectsNodesAndTheControlPlaneAddress(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Twice: a second run (make lab twice) must find everything in place.
	for range 2 {
		if err := ensureFabric(ctx); err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 2; n++ {
			if err := ensureNodeNetwork(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := ip(ctx, NodeName(1), "-4", "-br", "addr", "show", "dev", nodeLink)
	if err != nil || !strings.Contains(out, "10.199.1.11/24") || !strings.Contains(out, "UP") {
		t.Errorf("lab-node1 eth0 = %q (%v), want UP with 10.199.1.11/24", out, err)
	}
	ping(ctx, t, NodeName(1), NodeIP(2).String())
	ping(ctx, t, NodeName(2), ControlPlaneAddr.String())
	ping(ctx, t, "", NodeIP(1).String())
}

func TestEnsureNodeNetworkRepairsAHalfMadeVethPair(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ensureFabric(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeNetwork(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The node's namespace disappears (deleted by hand), its fabric end with it.
	if err := deleteNetns(ctx, NodeName(1)); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeNetwork(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ping(ctx, t, "", NodeIP(1).String())
}

func TestDownRemovesNamespacesLinkAndDirEvenWithAProcessInside(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ensureFabric(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeNetwork(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir+"/node1/ipam", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+markerFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A process whose pid file was lost keeps running inside the node.
	p, err := StartProcess(ProcessParams{Name: "stray", Dir: dir, Netns: NodeName(1), Args: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pidPath(dir, "stray")); err != nil {
		t.Fatal(err)
	}
	if err := Down(ctx, dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	assertNothingLeft(t, dir)
	if p.Alive() {
		t.Errorf("process %d inside %s survived Down", p.PID, NodeName(1))
	}
}
