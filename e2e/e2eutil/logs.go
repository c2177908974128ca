//go:build e2e

package e2eutil

import (
	"fmt"
	"os"
	"strings"
)

// LogSize is the size of the log file at path now, 0 when it is missing: a
// check after a step reads only what was written since (LogLinesSince).
func LogSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// LogLinesSince returns the lines of the log file at path written after
// offset that have every one of parts. A file shorter than offset was
// started anew: it is read whole.
func LogLinesSince(path string, offset int64, parts ...string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	var out []string
	for _, line := range strings.Split(string(data[offset:]), "\n") {
		if hasAll(line, parts) {
			out = append(out, line)
		}
	}
	return out, nil
}

func hasAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
