//go:build e2e

package e2eutil

import (
	"context"

	"runtime/debug"
	"testing"
	"time"
)

// Steps is a suite's runbook: named steps that run in order.
type Steps []struct {
	Name string
	Fn   func(t *testing.T)
}

// RunSteps runs every step of the runbook with Step, in order.
func (s *Suite) RunSteps(t *testing.T, steps Steps) {
	t.Helper()
	for _, st := range steps {
		s.Step(t, st.Name, st.Fn)
	}
}

// Step runs one runbook step as a subtest. A panic in the step fails that
// step instead of killing the process (and with it the teardown). A failed
// step saves a dump of the lab as it is at that moment: deferred code runs
// before the step's cleanups restore what it changed.
func (s *Suite) Step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
			if t.Failed() {
				s.dumpFailure(t)
			}
		}()
		fn(t)
	})
}

func (s *Suite) dumpFailure(t *testing.T) {
	l := s.lab.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if path, err := s.saveDump(ctx, l, t.Name(), false); err != nil {
		t.Logf("saving the dump: %v", err)
	} else {
		t.Logf("the lab's state at this failure: %s", path)
	}
}

// LogStep names an action inside a step, so the log reads like a runbook.
func LogStep(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("step: "+format, args...)
}
