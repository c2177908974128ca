//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CmdTimeout bounds every single command the suites run.
const CmdTimeout = 20 * time.Second

// Run runs a command (bounded by CmdTimeout) and returns its combined
// output; the error names the command and carries the output.
func Run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Output runs a command (bounded by CmdTimeout) and returns its stdout
// alone, for commands whose output is parsed; stderr goes into the error.
func Output(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CmdTimeout)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// InNs runs a command inside a network namespace.
func InNs(ctx context.Context, netns string, args ...string) (string, error) {
	return Run(ctx, "ip", append([]string{"netns", "exec", netns}, args...)...)
}

// MustRun fails the test when the command fails.
func MustRun(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := Run(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// LabNamespaces lists the network namespaces that carry the lab's prefix.
func LabNamespaces(ctx context.Context) ([]string, error) {
	out, err := Run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "lab-") {
			names = append(names, f[0])
		}
	}
	return names, nil
}
