package cniinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix starts the names of in-progress writes. The leading dot and the
// random suffix after ".tmp" keep the runtime from loading a half-written
// file: it only reads names ending in .conf, .conflist or .json.
const tempPrefix = "." + ConflistName + ".tmp"

// WriteConflist makes dir/ConflistName hold content. It writes nothing when
// the file already holds exactly that (so its mtime, which some runtimes
// watch, only moves on a real change). Otherwise it writes a temp file in
// dir, syncs it, makes it 0644 and renames it over the old file, so the
// runtime sees either the old config or the new one, never a partial one.
// It creates dir (0755) if missing, and removes temp files that a crash of
// an earlier write left behind. ctx is checked before the write starts; file
// I/O cannot be cancelled, so a write once started runs to the rename.
func WriteConflist(ctx context.Context, dir string, content []byte) (changed bool, err error) {
	path := filepath.Join(dir, ConflistName)
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, content) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	if err := writeAtomic(dir, path, content); err != nil {
		return false, fmt.Errorf("writing CNI config %s: %w", path, err)
	}
	return true, nil
}

func writeAtomic(dir, path string, content []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := removeStaleTemps(dir, tempPrefix); err != nil {
		return err
	}
	// 0644: runtimes and operators read it.
	return replaceFile(dir, path, tempPrefix, 0o644, func(tmp *os.File) error {
		_, err := tmp.Write(content)
		return err
	})
}

// replaceFile fills a new temp file in dir (named prefix + random), syncs it,
// gives it mode and renames it over path, then syncs dir. Readers of path see
// the old file or the new one, never a partial one, and a process executing
// the old file keeps running it (the rename never writes into it). The temp
// file is removed on any failure.
func replaceFile(dir, path, prefix string, mode fs.FileMode, fill func(tmp *os.File) error) error {
	tmp, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return err
	}
	// Once renamed, the temp name no longer exists and this is a no-op.
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	// CreateTemp makes the file 0600.
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes the rename itself durable, so a power loss right after a
// successful write cannot bring back the old config.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ConflistExists tells whether dir holds our conflist.
func ConflistExists(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, ConflistName))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("reading CNI config dir %s: %w", dir, err)
	}
}

// RemoveConflist removes the conflist (and any leftover temp files of ours)
// from dir. A missing file or dir is not an error.
func RemoveConflist(dir string) error {
	path := filepath.Join(dir, ConflistName)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing CNI config %s: %w", path, err)
	}
	if err := removeStaleTemps(dir, tempPrefix); err != nil {
		return fmt.Errorf("removing CNI config %s: %w", path, err)
	}
	return nil
}

// removeStaleTemps removes the files in dir whose names start with prefix:
// temp files that a crash of an earlier write left behind.
func removeStaleTemps(dir, prefix string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
