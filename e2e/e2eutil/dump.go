//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

// saveDump writes lab.Dump (and the suite's DumpExtra) to
// <artifacts>/dump-<label>.txt and returns its path. The final dump is
// printed too, for CI logs, and comes with a copy of every process log of
// the lab (Down removes them); it returns the dir then.
func (s *Suite) saveDump(ctx context.Context, l *lab.Lab, label string, final bool) (string, error) {
	if err := os.MkdirAll(s.Artifacts, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", s.Artifacts, err)
	}
	path := filepath.Join(s.Artifacts, "dump-"+safeName(label)+".txt")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "nodebgp %s dump (%s) at %s\n", s.Name, label, time.Now().Format(time.RFC3339))
	var w io.Writer = f
	if final {
		w = io.MultiWriter(f, os.Stdout)
	}
	l.Dump(ctx, w)
	if s.DumpExtra != nil {
		s.DumpExtra(ctx, l, w)
	}
	if final {
		if err := copyLogs(filepath.Join(s.Options.Dir, "logs"), filepath.Join(s.Artifacts, "logs")); err != nil {
			return path, err
		}
		return s.Artifacts, nil
	}
	return path, nil
}

func copyLogs(from, to string) error {
	logs, _ := filepath.Glob(filepath.Join(from, "*.log"))
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", to, err)
	}
	for _, src := range logs {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("copying %s: %w", src, err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(src)), data, 0o644); err != nil {
			return fmt.Errorf("copying %s: %w", src, err)
		}
	}
	return nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
