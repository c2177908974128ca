//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestContext is a context bounded by the test's own budget. Not for use
// inside a cleanup function, which must cancel its own.
func TestContext(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// WaitFor polls check every interval until it returns nil, and returns
// check's last error once timeout has passed; on success, how long it took.
func WaitFor(timeout, interval time.Duration, what string, check func() error) (time.Duration, error) {
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

// Eventually is WaitFor that fails the test with check's last error.
func Eventually(t *testing.T, timeout, interval time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	took, err := WaitFor(timeout, interval, what, check)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

// Consistently fails the test as soon as check fails during the window.
func Consistently(t *testing.T, window, interval time.Duration, what string, check func() error) {
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
