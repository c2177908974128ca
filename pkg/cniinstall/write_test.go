package cniinstall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustWrite(t *testing.T, dir string, content string) bool {
	t.Helper()
	changed, err := WriteConflist(context.Background(), dir, []byte(content))
	if err != nil {
		t.Fatalf("WriteConflist: %v", err)
	}
	return changed
}

func TestWriteConflistCreatesDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "cni", "net.d")
	if !mustWrite(t, dir, "one\n") {
		t.Error("first write reported changed=false")
	}
	path := filepath.Join(dir, ConflistName)
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "one\n" {
		t.Fatalf("file holds %q, %v; want %q", got, err, "one\n")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o644 {
		t.Errorf("file mode = %v, want -rw-r--r--", fi.Mode())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{ConflistName}) {
		t.Errorf("dir holds %q, want only %s", names, ConflistName)
	}
}

func TestWriteConflistUnchangedLeavesFileAlone(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, "same\n")
	path := filepath.Join(dir, ConflistName)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)

	if mustWrite(t, dir, "same\n") {
		t.Error("rewrite of identical content reported changed=true")
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(old) {
		t.Errorf("mtime moved to %v on an unchanged write", after.ModTime())
	}
	if !os.SameFile(before, after) {
		t.Error("file was replaced on an unchanged write")
	}
}

func TestWriteConflistReplacesChangedContent(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, "old content that is longer\n")
	path := filepath.Join(dir, ConflistName)
	// A file someone made private must come back readable.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if !mustWrite(t, dir, "new\n") {
		t.Error("changed content reported changed=false")
	}
	got, _ := os.ReadFile(path)
	if string(got) != "new\n" {
		t.Errorf("file holds %q, want %q", got, "new\n")
	}
	if fi, _ := os.Stat(path); fi.Mode() != 0o644 {
		t.Errorf("file mode = %v, want -rw-r--r--", fi.Mode())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{ConflistName}) {
		t.Errorf("dir holds %q after replace, want only %s", names, ConflistName)
	}
}

func TestWriteConflistLeavesTheOldFileOnceTheContextEnded(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, "old\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	changed, err := WriteConflist(ctx, dir, []byte("new\n"))
	if !errors.Is(err, context.Canceled) || changed {
		t.Errorf("WriteConflist with an ended context = %v, %v; want false, context.Canceled", changed, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, ConflistName)); string(got) != "old\n" {
		t.Errorf("file holds %q, want the old content", got)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{ConflistName}) {
		t.Errorf("dir holds %q, want only %s", names, ConflistName)
	}
}

func TestWriteConflistRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+ConflistName+".tmp123")
	other := filepath.Join(dir, "99-other.conflist")
	for _, f := range []string{stale, other} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, dir, "content\n")
	if names := dirNames(t, dir); !slices.Equal(names, []string{ConflistName, "99-other.conflist"}) {
		t.Errorf("dir holds %q, want our conflist and the other network's untouched", names)
	}
}

func TestWriteConflistErrorsNamePath(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (dir string)
	}{
		{
			// A path under a regular file cannot be created, even by root.
			name: "dir cannot be created",
			setup: func(t *testing.T) string {
				file := filepath.Join(t.TempDir(), "not-a-dir")
				if err := os.WriteFile(file, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(file, "net.d")
			},
		},
		{
			name: "conflist path is a directory",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				if err := os.Mkdir(filepath.Join(dir, ConflistName), 0o755); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			changed, err := WriteConflist(context.Background(), dir, []byte("x\n"))
			if err == nil {
				t.Fatal("WriteConflist succeeded, want an error")
			}
			if changed {
				t.Error("failed write reported changed=true")
			}
			if want := filepath.Join(dir, ConflistName); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

func TestWriteConflistUnwritableDirAsNonRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	_, err := WriteConflist(context.Background(), dir, []byte("x\n"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ConflistName)) {
		t.Errorf("WriteConflist error = %v, want one naming the path", err)
	}
}

func TestWrittenConflistLoadsThroughLibcni(t *testing.T) {
	dir := t.TempDir()
	content, err := RenderConflist(goldenCases[1].params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteConflist(context.Background(), dir, content); err != nil {
		t.Fatal(err)
	}
	list, err := libcni.LoadConfList(dir, NetworkName)
	if err != nil {
		t.Fatalf("libcni cannot load network %q from %s: %v", NetworkName, dir, err)
	}
	if len(list.Plugins) != 2 {
		t.Errorf("libcni loaded %d plugins, want 2", len(list.Plugins))
	}
}

func TestRemoveConflist(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string)
		wantNames []string
	}{
		{
			name: "removes our conflist and stale temps, keeps other networks",
			setup: func(t *testing.T, dir string) {
				mustWrite(t, dir, "x\n")
				for _, f := range []string{"." + ConflistName + ".tmp42", "99-other.conflist"} {
					if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantNames: []string{"99-other.conflist"},
		},
		{name: "missing conflist is fine", setup: func(*testing.T, string) {}, wantNames: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			if err := RemoveConflist(dir); err != nil {
				t.Fatalf("RemoveConflist: %v", err)
			}
			if names := dirNames(t, dir); !slices.Equal(names, tt.wantNames) {
				t.Errorf("dir holds %q, want %q", names, tt.wantNames)
			}
		})
	}
	if err := RemoveConflist(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("RemoveConflist on a missing dir: %v", err)
	}
}
