package cniinstall

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakePlugin writes a shell script that answers like a CNI plugin run
// without CNI_COMMAND ("CNI bridge plugin v1.4.0") and, when marker is set,
// records that it ran. pad bytes of comment make it large.
func fakePlugin(t *testing.T, dir, name, version, marker string, pad int) []byte {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"CNI %s plugin %s\"\n", name, version)
	if marker != "" {
		script += fmt.Sprintf("echo %s >> %s\n", name, marker)
	}
	script += "exit 0\n"
	if pad > 0 {
		script += "#" + strings.Repeat("x", pad) + "\n"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return sha(t, path)
}

func sha(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return s[:]
}

func bundle(t *testing.T, version, marker string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "bundled")
	for _, n := range DefaultPlugins {
		fakePlugin(t, src, n, version, marker, 0)
	}
	return src
}

func lines(results []PluginResult) []string {
	var out []string
	for _, r := range results {
		out = append(out, r.Line)
	}
	return out
}

func install(t *testing.T, p PluginParams) []string {
	t.Helper()
	if p.Plugins == nil {
		p.Plugins = DefaultPlugins
	}
	res, err := InstallPlugins(context.Background(), p)
	if err != nil {
		t.Fatalf("InstallPlugins: %v", err)
	}
	return lines(res)
}

func assertSame(t *testing.T, path string, want []byte) {
	t.Helper()
	if got := sha(t, path); !slices.Equal(got, want) {
		t.Errorf("%s has sha256 %x, want %x", path, got, want)
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(t, dir) {
		if strings.Contains(n, ".nodebgp-tmp") {
			t.Errorf("temp file %s left in %s", n, dir)
		}
	}
}

func TestInstallPluginsIntoFreshDirCreatesItAndInstallsEach(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	bin := filepath.Join(t.TempDir(), "opt", "cni", "bin")
	got := install(t, PluginParams{SourceDir: src, BinDir: bin})
	want := []string{"bridge: installed v1.9.0", "host-local: installed v1.9.0", "portmap: installed v1.9.0", "loopback: installed v1.9.0"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	for _, n := range DefaultPlugins {
		assertSame(t, filepath.Join(bin, n), sha(t, filepath.Join(src, n)))
		fi, err := os.Stat(filepath.Join(bin, n))
		if err != nil || fi.Mode() != 0o755 {
			t.Errorf("%s mode = %v, %v; want -rwxr-xr-x", n, fi.Mode(), err)
		}
	}
	if names := dirNames(t, bin); len(names) != len(DefaultPlugins) {
		t.Errorf("bin dir holds %q, want only the plugins", names)
	}
}

func TestInstallPluginsLeavesIdenticalPluginsAloneWithoutRunningThem(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	src := bundle(t, "v1.9.0", marker)
	bin := t.TempDir()
	install(t, PluginParams{SourceDir: src, BinDir: bin})
	// Installing runs each bundled plugin once for its version.
	if err := os.Remove(marker); err != nil {
		t.Fatalf("the fresh install never ran a plugin for its version: %v", err)
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	before := map[string]os.FileInfo{}
	for _, n := range DefaultPlugins {
		p := filepath.Join(bin, n)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		before[n], _ = os.Stat(p)
	}

	got := install(t, PluginParams{SourceDir: src, BinDir: bin, Force: true})
	for i, n := range DefaultPlugins {
		if want := n + ": unchanged (same sha256 as bundled)"; got[i] != want {
			t.Errorf("line %d = %q, want %q", i, got[i], want)
		}
		after, err := os.Stat(filepath.Join(bin, n))
		if err != nil || !after.ModTime().Equal(old) || !os.SameFile(before[n], after) {
			t.Errorf("%s was rewritten (mtime %v, %v)", n, after.ModTime(), err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a plugin was run although every file was identical")
	}
}

func TestInstallPluginsComparesVersionsWithTheHostPlugin(t *testing.T) {
	tests := []struct {
		name        string
		hostVersion string
		force       bool
		want        string
		wantBundled bool // the host ends with the bundled plugin, not its own
	}{
		{name: "older on host is upgraded", hostVersion: "v1.4.0", want: "bridge: upgraded from v1.4.0 to v1.9.0", wantBundled: true},
		{name: "newer on host is kept", hostVersion: "v1.10.0", want: "bridge: kept newer v1.10.0 (bundled v1.9.0; --force to replace)"},
		{name: "newer on host is replaced when forced", hostVersion: "v1.10.0", force: true, want: "bridge: replaced v1.10.0 with v1.9.0 (forced)", wantBundled: true},
		{name: "unknown version on host is replaced", hostVersion: "unknown", want: `bridge: replaced with v1.9.0 (host version unreadable: "unknown")`, wantBundled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "bundled")
			bundled := fakePlugin(t, src, "bridge", "v1.9.0", "", 0)
			bin := t.TempDir()
			host := fakePlugin(t, bin, "bridge", tt.hostVersion, "", 0)
			got := install(t, PluginParams{SourceDir: src, BinDir: bin, Plugins: []string{"bridge"}, Force: tt.force})
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			want := host
			if tt.wantBundled {
				want = bundled
			}
			assertSame(t, filepath.Join(bin, "bridge"), want)
			assertNoTemps(t, bin)
		})
	}
}

func TestInstallPluginsDryRunChangesNothing(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	root := t.TempDir()
	fresh := filepath.Join(root, "fresh")
	got := install(t, PluginParams{SourceDir: src, BinDir: fresh, Plugins: []string{"bridge"}, DryRun: true})
	if want := []string{"bridge: would install v1.9.0"}; !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("dry run created the bin dir")
	}

	bin := filepath.Join(root, "bin")
	host := fakePlugin(t, bin, "bridge", "v1.4.0", "", 0)
	got = install(t, PluginParams{SourceDir: src, BinDir: bin, Plugins: []string{"bridge"}, DryRun: true})
	if want := []string{"bridge: would upgrade from v1.4.0 to v1.9.0"}; !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	assertSame(t, filepath.Join(bin, "bridge"), host)
}

func TestInstallPluginsWithAMissingSourceChangesNothing(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	missing := filepath.Join(src, "portmap")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	host := fakePlugin(t, bin, "bridge", "v1.4.0", "", 0)
	res, err := InstallPlugins(context.Background(), PluginParams{SourceDir: src, BinDir: bin, Plugins: DefaultPlugins})
	want := "CNI plugin portmap: bundled plugin " + missing + ": open " + missing + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("InstallPlugins = %q, %v; want error %q", lines(res), err, want)
	}
	// bridge comes before portmap in the list and is older: still untouched.
	assertSame(t, filepath.Join(bin, "bridge"), host)
	if names := dirNames(t, bin); !slices.Equal(names, []string{"bridge"}) {
		t.Errorf("bin dir holds %q, want only the old bridge", names)
	}
}

func TestInstallPluginsRejectsBadPluginNames(t *testing.T) {
	for _, names := range [][]string{{}, {"../bridge"}, {".bridge"}, {"bridge", "bridge"}, {""}} {
		if _, err := InstallPlugins(context.Background(), PluginParams{SourceDir: t.TempDir(), BinDir: t.TempDir(), Plugins: names}); err == nil {
			t.Errorf("plugins %q accepted", names)
		}
	}
}

func TestInstallPluginsRemovesTempsOfAnEarlierCrash(t *testing.T) {
	src := bundle(t, "v1.9.0", "")
	bin := t.TempDir()
	stale := filepath.Join(bin, pluginTempPrefix("bridge")+"123")
	if err := os.WriteFile(stale, []byte("half a plug"), 0o600); err != nil {
		t.Fatal(err)
	}
	install(t, PluginParams{SourceDir: src, BinDir: bin, Plugins: []string{"bridge"}})
	assertNoTemps(t, bin)
}

func TestInstallPluginsReplacesAPluginThatIsRunning(t *testing.T) {
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	src := filepath.Join(t.TempDir(), "bundled")
	bundled := fakePlugin(t, src, "bridge", "v1.9.0", "", 0)
	bin := t.TempDir()
	running := filepath.Join(bin, "bridge")
	// A real executable (not a script), so writing into it while it runs
	// would fail with ETXTBSY.
	b, err := os.ReadFile(sleepBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(running, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(running, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	got := install(t, PluginParams{SourceDir: src, BinDir: bin, Plugins: []string{"bridge"}})
	if len(got) != 1 || !strings.HasPrefix(got[0], "bridge: replaced with v1.9.0 (host version unreadable: ") {
		t.Errorf("lines = %q", got)
	}
	assertSame(t, running, bundled)
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the running plugin died: %v", err)
	}
}

func TestConfigsBeforeNamesConfigsTheRuntimeWouldPickFirst(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"05-other.conf", "00-a.json", "09-x.conflist", "01-notes.txt", ConflistName, "99-late.conflist"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ConfigsBefore(dir)
	want := []string{filepath.Join(dir, "00-a.json"), filepath.Join(dir, "05-other.conf"), filepath.Join(dir, "09-x.conflist")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ConfigsBefore = %q, %v; want %q", got, err, want)
	}
	if got, err := ConfigsBefore(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("ConfigsBefore(missing dir) = %q, %v; want none", got, err)
	}
}
