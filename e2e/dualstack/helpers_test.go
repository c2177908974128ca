//go:build e2e

package dualstack

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

// cmdTimeout bounds every single command the suite runs.
const cmdTimeout = 20 * time.Second

// requireLab returns the suite's lab, or skips when the suite cannot run here.
func requireLab(t *testing.T) *lab.Lab {
	t.Helper()
	l := theLab.Load()
	if l == nil {
		t.Skip(skipReason)
	}
	return l
}

// testContext is a context bounded by the test's own budget.
func testContext(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// step runs one runbook step as a subtest. A panic fails the step instead of
// killing the process (and with it the teardown); a failed step saves a dump
// of the lab as it is at that moment.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
			if t.Failed() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if path, err := saveDump(ctx, theLab.Load(), t.Name(), false); err != nil {
					t.Logf("saving the dump: %v", err)
				} else {
					t.Logf("the lab's state at this failure: %s", path)
				}
			}
		}()
		fn(t)
	})
}

// waitFor polls check every interval until it returns nil, and returns
// check's last error once timeout has passed; on success, how long it took.
func waitFor(timeout, interval time.Duration, what string, check func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for attempt := 1; ; attempt++ {
		err := check()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("%s: not true within %s (%d attempts); last error: %w", what, timeout, attempt, err)
		}
		time.Sleep(interval)
	}
}

// eventually is waitFor that fails the test with check's last error.
func eventually(t *testing.T, timeout, interval time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	took, err := waitFor(timeout, interval, what, check)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// run runs a command (bounded by cmdTimeout) and returns its combined
// output; the error names the command and carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// labNamespaces lists the network namespaces that carry the lab's prefix.
func labNamespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && strings.HasPrefix(f[0], "lab-") {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// nodeNumbered returns the lab's node n with its pod, failing the test if
// either is missing.
func nodeNumbered(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	node := l.NodeByName(lab.NodeName(n))
	if node == nil || node.Pod == nil {
		t.Fatalf("the lab has no %s with a pod", lab.NodeName(n))
	}
	return node
}
