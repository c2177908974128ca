//go:build e2e

package ecmp

import (
	"context"
	"fmt"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

// The helpers below are the fabric suite's (e2e/fabric/helpers_test.go),
// copied: the packages share no test code, and each stays readable on its own.

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
// of the lab before the step's cleanups restore what it changed.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
			if t.Failed() {
				dumpFailure(t)
			}
		}()
		fn(t)
	})
}

func dumpFailure(t *testing.T) {
	l := theLab.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if path, err := saveDump(ctx, l, t.Name(), false); err != nil {
		t.Logf("saving the dump: %v", err)
	} else {
		t.Logf("the lab's state at this failure: %s", path)
	}
}

// logStep names an action inside a step, so the log reads like a runbook.
func logStep(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("step: "+format, args...)
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

// consistently fails the test as soon as check fails during the window.
func consistently(t *testing.T, window, interval time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(window)
	for {
		if err := check(); err != nil {
			t.Fatalf("%s: broke during the %s window: %v", what, window, err)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(interval)
	}
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

// output runs a command and returns its stdout alone, for parsing.
func output(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
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

// node returns the lab's node n, failing the test if there is none.
func node(t *testing.T, l *lab.Lab, n int) *lab.Node {
	t.Helper()
	nd := l.NodeByName(lab.NodeName(n))
	if nd == nil {
		t.Fatalf("the lab has no %s", lab.NodeName(n))
	}
	if nd.Pod == nil {
		t.Fatalf("%s has no pod", nd.Name)
	}
	return nd
}
