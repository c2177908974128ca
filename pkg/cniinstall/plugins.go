package cniinstall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultPlugins are the plugins the conflist delegates to, and loopback,
// which runtimes call for every pod's lo.
var DefaultPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// DefaultVersionTimeout bounds each run of a plugin asking for its version.
const DefaultVersionTimeout = 5 * time.Second

// PluginParams says which plugins to install from where to where.
type PluginParams struct {
	// SourceDir holds the bundled plugins (in the image).
	SourceDir string
	// BinDir is the host's CNI bin dir; created (0755) if missing.
	BinDir  string
	Plugins []string
	// Force replaces every host plugin that differs, even a newer one.
	Force bool
	// DryRun decides and reports but changes nothing.
	DryRun bool
	// VersionTimeout bounds each version query; 0 means DefaultVersionTimeout.
	VersionTimeout time.Duration

	// afterChunk, when set, runs after each chunk copied into a temp file;
	// tests use it to slow a copy down and kill the installer inside it.
	afterChunk func()
}

// PluginResult is what happened to one plugin.
type PluginResult struct {
	Name   string
	Action Action
	// Line explains it: "bridge: upgraded from v1.4.0 to v1.9.0".
	Line string
}

// copyChunk is the size of each write into a temp file.
const copyChunk = 1 << 20

// InstallPlugins makes BinDir hold the bundled plugins, each replaced
// atomically (temp file, fsync, 0755, rename) so an interrupted install or
// a runtime executing the old plugin never sees a partial one. It checks
// that every source plugin is readable before it changes anything, and
// writes nothing when every host plugin is identical, so a read-only bin
// dir is then no error. It returns one result per plugin written or left
// alone; on an error, the results of the plugins done before it.
func InstallPlugins(ctx context.Context, p PluginParams) ([]PluginResult, error) {
	if err := validatePluginNames(p.Plugins); err != nil {
		return nil, err
	}
	timeout := p.VersionTimeout
	if timeout <= 0 {
		timeout = DefaultVersionTimeout
	}
	sums := make([][]byte, len(p.Plugins))
	for i, name := range p.Plugins {
		src := filepath.Join(p.SourceDir, name)
		sum, err := hashRegularFile(src)
		if err != nil {
			return nil, fmt.Errorf("CNI plugin %s: bundled plugin %s: %w", name, src, err)
		}
		sums[i] = sum
	}
	decisions := make([]decision, len(p.Plugins))
	for i, name := range p.Plugins {
		f, err := gatherFacts(ctx, p.SourceDir, p.BinDir, name, sums[i], timeout)
		if err != nil {
			return nil, err
		}
		decisions[i] = decide(f, p.Force)
	}

	results := make([]PluginResult, 0, len(p.Plugins))
	if p.DryRun {
		for i, name := range p.Plugins {
			results = append(results, PluginResult{Name: name, Action: decisions[i].Action, Line: decisions[i].Planned})
		}
		return results, nil
	}
	for i, name := range p.Plugins {
		d := decisions[i]
		if d.Action.Writes() {
			src, dst := filepath.Join(p.SourceDir, name), filepath.Join(p.BinDir, name)
			if err := installPlugin(src, p.BinDir, dst, sums[i], p.afterChunk); err != nil {
				return results, fmt.Errorf("installing CNI plugin %s to %s: %w", name, dst, err)
			}
		}
		results = append(results, PluginResult{Name: name, Action: d.Action, Line: d.Done})
	}
	return results, nil
}

func validatePluginNames(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("no CNI plugin to install")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") || strings.HasPrefix(n, ".") {
			return fmt.Errorf("CNI plugin name %q: not a plain file name", n)
		}
		if seen[n] {
			return fmt.Errorf("CNI plugin %s: listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

// gatherFacts compares the host's plugin with the bundled one; the plugins
// are only run for their versions when the files differ, so an unchanged
// node costs a hash per plugin.
func gatherFacts(ctx context.Context, srcDir, binDir, name string, srcSum []byte, timeout time.Duration) (pluginFacts, error) {
	src, dst := filepath.Join(srcDir, name), filepath.Join(binDir, name)
	f := pluginFacts{Name: name}
	dstSum, err := hashRegularFile(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.Bundled = readVersion(ctx, src, timeout)
		return f, nil
	case err != nil:
		return f, fmt.Errorf("CNI plugin %s: host plugin %s: %w", name, dst, err)
	}
	f.HostExists = true
	if bytes.Equal(srcSum, dstSum) {
		f.Identical = true
		f.Bundled = buildInfoVersion(src)
		return f, nil
	}
	f.Bundled = readVersion(ctx, src, timeout)
	f.Host = readVersion(ctx, dst, timeout)
	return f, nil
}

// hashRegularFile returns the sha256 of the regular file at path; reading it
// whole is also the proof that it is readable.
func hashRegularFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// pluginTempPrefix starts the temp files of plugin name. A runtime looks a
// plugin up by its exact name, so it never runs a temp file.
func pluginTempPrefix(name string) string { return "." + name + ".nodebgp-tmp" }

func installPlugin(src, binDir, dst string, wantSum []byte, afterChunk func()) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	name := filepath.Base(dst)
	if err := removeStaleTemps(binDir, pluginTempPrefix(name)); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return replaceFile(binDir, dst, pluginTempPrefix(name), 0o755, func(tmp *os.File) error {
		h := sha256.New()
		if err := copyChunks(io.MultiWriter(tmp, h), in, afterChunk); err != nil {
			return err
		}
		// The source was hashed before anything changed; a different sum
		// now means it changed under us, and the decision no longer holds.
		if !bytes.Equal(h.Sum(nil), wantSum) {
			return fmt.Errorf("bundled plugin %s changed while it was copied", src)
		}
		return nil
	})
}

func copyChunks(w io.Writer, r io.Reader, afterChunk func()) error {
	buf := make([]byte, copyChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if afterChunk != nil {
				afterChunk()
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
