package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFakePlugin(t *testing.T, dir, name, version string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"CNI " + name + " plugin " + version + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func runInstallCNI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"install-cni"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// clearInstallEnv makes the test independent of the environment it runs in.
func clearInstallEnv(t *testing.T) {
	for _, k := range []string{"CNI_BIN_DIR", "CNI_PLUGINS", "CNI_FORCE_INSTALL", "SKIP_CNI_INSTALL"} {
		t.Setenv(k, "")
	}
}

func TestInstallCNISkipSwitchExitsZeroAndChangesNothing(t *testing.T) {
	clearInstallEnv(t)
	bin := filepath.Join(t.TempDir(), "bin")
	t.Setenv("SKIP_CNI_INSTALL", "true")
	out, _, err := runInstallCNI(t, "--source-dir", filepath.Join(t.TempDir(), "missing"), "--bin-dir", bin)
	if err != nil || !strings.Contains(out, "SKIP_CNI_INSTALL=true, not installing") {
		t.Errorf("install-cni = %q, %v; want a skip message and success", out, err)
	}
	if _, err := os.Stat(bin); err == nil {
		t.Error("skipped install created the bin dir")
	}
}

func TestInstallCNIRejectsABadBooleanInTheEnvironment(t *testing.T) {
	clearInstallEnv(t)
	t.Setenv("CNI_FORCE_INSTALL", "yes please")
	_, _, err := runInstallCNI(t, "--bin-dir", t.TempDir())
	if err == nil || err.Error() != `environment CNI_FORCE_INSTALL="yes please": not true or false` {
		t.Errorf("install-cni error = %v", err)
	}
}

func TestInstallCNITakesBinDirPluginsAndForceFromTheEnvironment(t *testing.T) {
	clearInstallEnv(t)
	src := t.TempDir()
	writeFakePlugin(t, src, "bridge", "v1.9.0")
	writeFakePlugin(t, src, "portmap", "v1.9.0")
	bin := t.TempDir()
	writeFakePlugin(t, bin, "bridge", "v1.10.0")
	t.Setenv("CNI_BIN_DIR", bin)
	t.Setenv("CNI_PLUGINS", "bridge, portmap")
	t.Setenv("CNI_FORCE_INSTALL", "true")
	out, _, err := runInstallCNI(t, "--source-dir", src, "--cni-conf-dir", t.TempDir())
	want := "bridge: replaced v1.10.0 with v1.9.0 (forced)\nportmap: installed v1.9.0\n"
	if err != nil || out != want {
		t.Errorf("install-cni = %q, %v; want %q", out, err, want)
	}
}

func TestInstallCNIFlagsWinOverTheEnvironment(t *testing.T) {
	clearInstallEnv(t)
	src := t.TempDir()
	writeFakePlugin(t, src, "loopback", "v1.9.0")
	envBin, flagBin := t.TempDir(), t.TempDir()
	t.Setenv("CNI_BIN_DIR", envBin)
	t.Setenv("CNI_PLUGINS", "bridge")
	out, _, err := runInstallCNI(t, "--source-dir", src, "--bin-dir", flagBin, "--plugins", "loopback", "--cni-conf-dir", t.TempDir())
	if err != nil || out != "loopback: installed v1.9.0\n" {
		t.Errorf("install-cni = %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(flagBin, "loopback")); err != nil {
		t.Errorf("plugin not in --bin-dir: %v", err)
	}
}

func TestInstallCNIWarnsAboutAConfigThatSortsFirst(t *testing.T) {
	clearInstallEnv(t)
	src := t.TempDir()
	writeFakePlugin(t, src, "bridge", "v1.9.0")
	conf := t.TempDir()
	other := filepath.Join(conf, "05-other.conflist")
	if err := os.WriteFile(other, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runInstallCNI(t, "--source-dir", src, "--bin-dir", t.TempDir(), "--plugins", "bridge", "--cni-conf-dir", conf, "--dry-run")
	if err != nil || !strings.Contains(errOut, "warning: "+other+" sorts before 10-nodebgp.conflist") {
		t.Errorf("install-cni stderr = %q, %v; want a warning naming %s", errOut, err, other)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the other config is gone: %v", err)
	}
}

func TestInstallCNIFailsNamingAMissingSourcePlugin(t *testing.T) {
	clearInstallEnv(t)
	src := t.TempDir()
	out, _, err := runInstallCNI(t, "--source-dir", src, "--bin-dir", t.TempDir(), "--plugins", "bridge", "--cni-conf-dir", t.TempDir())
	missing := filepath.Join(src, "bridge")
	if err == nil || !strings.Contains(err.Error(), missing+": no such file or directory") || out != "" {
		t.Errorf("install-cni = %q, %v; want an error naming %s", out, err, missing)
	}
}
