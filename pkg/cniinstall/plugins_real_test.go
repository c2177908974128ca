package cniinstall

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// realPlugins is where hack/build-tools.sh puts the CNI plugins (v1.9.0)
// that the image bundles.
var realPlugins = filepath.Join("..", "..", ".cache", "tools", "cni")

func TestInstallPluginsReadsRealPluginVersions(t *testing.T) {
	for _, n := range DefaultPlugins {
		if _, err := os.Stat(filepath.Join(realPlugins, n)); err != nil {
			t.Skipf("real CNI plugins not built (make tools): %v", err)
		}
	}
	if r := readVersion(context.Background(), filepath.Join(realPlugins, "bridge"), DefaultVersionTimeout); !r.OK || r.Version.String() != "v1.9.0" {
		t.Fatalf("running the real bridge plugin gave %+v, want v1.9.0", r)
	}
	bin := t.TempDir()
	got := install(t, PluginParams{SourceDir: realPlugins, BinDir: bin})
	want := []string{"bridge: installed v1.9.0", "host-local: installed v1.9.0", "portmap: installed v1.9.0", "loopback: installed v1.9.0"}
	if !slices.Equal(got, want) {
		t.Errorf("fresh install lines = %q, want %q", got, want)
	}

	start := time.Now()
	got = install(t, PluginParams{SourceDir: realPlugins, BinDir: bin})
	took := time.Since(start)
	want = []string{"bridge: unchanged (v1.9.0)", "host-local: unchanged (v1.9.0)", "portmap: unchanged (v1.9.0)", "loopback: unchanged (v1.9.0)"}
	if !slices.Equal(got, want) {
		t.Errorf("second install lines = %q, want %q", got, want)
	}
	if took > 500*time.Millisecond {
		t.Errorf("an install with nothing to do took %v, want well under a second", took)
	}
}
