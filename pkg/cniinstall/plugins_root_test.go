package cniinstall

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const roMountPrefix = "nodebgp-cniinstall-ro-"

// readOnlyBinDir returns a tmpfs holding the given plugins copied from
// src, remounted read-only: as root, mode bits do not stop a write, a
// read-only mount does.
func readOnlyBinDir(t *testing.T, src string, plugins ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	unmountLeftovers(t)
	dir, err := os.MkdirTemp("", roMountPrefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		os.Remove(dir)
		t.Skipf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	for _, n := range plugins {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting %s read-only: %v", dir, err)
	}
	return dir
}

// unmountLeftovers unmounts the read-only tmpfs dirs a crashed earlier run
// of these tests left behind.
func unmountLeftovers(t *testing.T) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	prefix := filepath.Join(os.TempDir(), roMountPrefix)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			syscall.Unmount(fields[4], syscall.MNT_DETACH)
			os.Remove(fields[4])
		}
	}
}

func TestInstallPluginsIntoReadOnlyDirSucceedsWhenAllIdentical(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	bin := readOnlyBinDir(t, src, DefaultPlugins...)
	got := install(t, PluginParams{SourceDir: src, BinDir: bin})
	if len(got) != len(DefaultPlugins) || !strings.HasSuffix(got[0], ": unchanged (same sha256 as bundled)") {
		t.Errorf("lines = %q", got)
	}
}

func TestInstallPluginsIntoReadOnlyDirFailsClearlyWhenAWriteIsNeeded(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	bin := readOnlyBinDir(t, src, "bridge", "host-local")
	res, err := InstallPlugins(context.Background(), PluginParams{SourceDir: src, BinDir: bin, Plugins: DefaultPlugins})
	dst := filepath.Join(bin, "portmap")
	if err == nil || !strings.HasPrefix(err.Error(), "installing CNI plugin portmap to "+dst+": ") || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("InstallPlugins error = %v; want one naming %s and read-only file system", err, dst)
	}
	if got := lines(res); !slices.Equal(got, []string{"bridge: unchanged (same sha256 as bundled)", "host-local: unchanged (same sha256 as bundled)"}) {
		t.Errorf("results before the failure = %q", got)
	}
	if names := dirNames(t, bin); !slices.Equal(names, []string{"bridge", "host-local"}) {
		t.Errorf("read-only dir holds %q", names)
	}
}

// The kill test re-runs this test binary as the installer and SIGKILLs it
// while it copies.
const childEnv = "NODEBGP_CNIINSTALL_CHILD"

func TestInstallPluginsChildProcess(t *testing.T) {
	dirs := os.Getenv(childEnv)
	if dirs == "" {
		t.Skip("only runs as the child of TestInstallPluginsKilledMidCopyLeavesOldOrNewPluginWhole")
	}
	src, bin, _ := strings.Cut(dirs, ":")
	_, err := InstallPlugins(context.Background(), PluginParams{
		SourceDir: src, BinDir: bin, Plugins: []string{"bridge"},
		afterChunk: func() { time.Sleep(20 * time.Millisecond) },
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInstallPluginsKilledMidCopyLeavesOldOrNewPluginWhole(t *testing.T) {
	root := t.TempDir()
	src, bin := filepath.Join(root, "src"), filepath.Join(root, "bin")
	// 8 MiB: eight chunks, each followed by 20 ms in the child.
	newSum := fakePlugin(t, src, "bridge", "v1.9.0", "", 8<<20)
	oldPlugin := filepath.Join(root, "old")
	fakePlugin(t, root, "old", "v1.4.0", "", 6<<20)
	oldBytes, _ := os.ReadFile(oldPlugin)
	oldSum := sha(t, oldPlugin)
	target := filepath.Join(bin, "bridge")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}

	midCopy := 0
	for i := range 8 {
		if err := os.WriteFile(target, oldBytes, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := removeStaleTemps(bin, pluginTempPrefix("bridge")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestInstallPluginsChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+src+":"+bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Half the runs die at a random moment; the others once the temp
		// file exists, so some kills surely land inside the copy.
		if i%2 == 1 {
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && !hasTemp(bin) {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// A temp file left behind means the kill came between its creation
		// and the rename.
		if hasTemp(bin) {
			midCopy++
		}
		if got := sha(t, target); !slices.Equal(got, oldSum) && !slices.Equal(got, newSum) {
			t.Fatalf("run %d: after SIGKILL %s is neither the old nor the new plugin (sha256 %x)", i, target, got)
		}
	}
	if midCopy == 0 {
		t.Fatal("no kill landed inside a copy; the test proved nothing")
	}
	t.Logf("%d of 8 kills landed inside a copy", midCopy)

	// The next run completes and clears the dead runs' temp files.
	got := install(t, PluginParams{SourceDir: src, BinDir: bin, Plugins: []string{"bridge"}})
	if !slices.Equal(got, []string{"bridge: upgraded from v1.4.0 to v1.9.0"}) {
		t.Errorf("lines = %q", got)
	}
	assertSame(t, target, newSum)
	assertNoTemps(t, bin)
}

func hasTemp(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), pluginTempPrefix("bridge")) {
			return true
		}
	}
	return false
}
