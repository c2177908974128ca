package cniinstall

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ConfigsBefore lists the network configs in confDir that a runtime would
// pick before ours: libcni loads *.conf, *.conflist and *.json sorted by
// name, and the runtime uses the first. A missing dir has none.
func ConfigsBefore(confDir string) ([]string, error) {
	entries, err := os.ReadDir(confDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading CNI conf dir %s: %w", confDir, err)
	}
	var before []string
	for _, e := range entries {
		name := e.Name()
		switch filepath.Ext(name) {
		case ".conf", ".conflist", ".json":
		default:
			continue
		}
		if e.IsDir() || name >= ConflistName {
			continue
		}
		before = append(before, filepath.Join(confDir, name))
	}
	slices.Sort(before)
	return before, nil
}
