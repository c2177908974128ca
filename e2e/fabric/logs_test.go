//go:build e2e

package fabric

import (
	"fmt"
	"os"
	"strings"

	"github.com/nodebgp/router/e2e/lab"
)

// logOffset is the size of node's agent log now: later checks read only
// what the agent wrote after it.
func logOffset(l *lab.Lab, node *lab.Node) int64 { return fileSize(l.Agents.Log(node)) }

// fileSize is the size of the file at path, 0 when it is missing.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logLinesSince returns the lines of path written after offset that have
// every one of parts.
func logLinesSince(path string, offset int64, parts ...string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	var out []string
	for _, line := range strings.Split(string(data[offset:]), "\n") {
		if containsAll(line, parts) {
			out = append(out, line)
		}
	}
	return out, nil
}

// agentLogged fails unless node's agent wrote a line with every one of
// parts after offset, and returns the first.
func agentLogged(l *lab.Lab, node *lab.Node, offset int64, parts ...string) (string, error) {
	lines, err := logLinesSince(l.Agents.Log(node), offset, parts...)
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s's agent log has no line with %q since the step began", node.Name, parts)
	}
	return lines[0], nil
}
