//go:build e2e

package e2eutil

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/lab"
)

const (
	upTimeout = 6 * time.Minute
	// downTimeout bounds the teardown: agents get 15 s each to stop.
	downTimeout = 3 * time.Minute
	// timeoutMargin is how long before `go test -timeout` fires the suite
	// tears the lab down itself: the test binary's own timeout panics and
	// would leave the lab running.
	timeoutMargin = 2 * time.Minute
)

// Suite is one end-to-end suite's lab: TestMain fills in the fields and
// calls Run, which brings the lab up once, runs the tests and always tears
// the lab down, with a dump of its state when anything failed.
type Suite struct {
	// Name prefixes the suite's own output and titles its dumps.
	Name string
	// Options is the lab to bring up. Options.Dir is the suite's own lab
	// state dir, so it never adopts (or tears down) another suite's lab.
	Options lab.Options
	// Artifacts is where dumps go; $E2E_ARTIFACTS overrides it.
	Artifacts string
	// NeedsFRR skips the suite when FRR is not installed (labs with ToRs).
	NeedsFRR bool
	// OtherLabWait bounds the wait for another lab's namespaces to go: the
	// lab's namespace names are fixed, so two labs cannot run at once. Zero
	// fails at once when another lab runs.
	OtherLabWait time.Duration
	// OwnsEtcd makes the suite wait for the lab's etcd ports to be free
	// before it starts and end its own control plane's leftovers after
	// Down (see etcdPorts).
	OwnsEtcd bool
	// Prepare, when set, runs right after lab.Up, under the same deadline;
	// its failure counts as the lab's.
	Prepare func(ctx context.Context, l *lab.Lab) error
	// DumpExtra, when set, adds the suite's own sections to every dump.
	DumpExtra func(ctx context.Context, l *lab.Lab, w io.Writer)

	lab          atomic.Pointer[lab.Lab] // read by the abort watcher too
	skipReason   string
	teardownOnce sync.Once
}

// Run brings the lab up, runs the tests and tears the lab down; it returns
// the exit code for os.Exit. The suite is skipped (every test calls Lab)
// when it cannot run here, and fails when it must not run.
func (s *Suite) Run(m *testing.M) int {
	if d := os.Getenv("E2E_ARTIFACTS"); d != "" {
		s.Artifacts = d
	}
	reason, err := s.preflight()
	if err != nil {
		// Not skipped: a CI run that silently skipped would look green.
		fmt.Printf("%s: %v\n", s.Name, err)
		return 1
	}
	if reason != "" {
		s.skipReason = reason
		fmt.Printf("%s: skipping: %s\n", s.Name, reason)
		return m.Run()
	}
	// From here on the lab exists (perhaps half made): every way out goes
	// through teardown, also a signal or the test binary's own timeout.
	stopWatch := s.watchForAbort()
	defer stopWatch()

	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	start := time.Now()
	l, err := lab.Up(ctx, s.Options)
	if err == nil {
		s.lab.Store(l)
		if s.Prepare != nil {
			err = s.Prepare(ctx, l)
		}
	}
	cancel()
	if err != nil {
		fmt.Printf("%s: lab up failed after %s: %v\n", s.Name, time.Since(start).Round(time.Second), err)
		if l == nil {
			// Up returns no lab on failure; Load reads what it recorded.
			l, _ = lab.Load(s.Options.Dir)
		}
		s.teardown(l, true, "lab-up")
		return 1
	}
	fmt.Printf("%s: lab up in %s\n", s.Name, time.Since(start).Round(time.Second))

	code := m.Run()
	s.teardown(l, code != 0, "end")
	return code
}

// Lab returns the suite's lab, or skips the test when the suite cannot run
// here.
func (s *Suite) Lab(t *testing.T) *lab.Lab {
	t.Helper()
	l := s.lab.Load()
	if l == nil {
		t.Skip(s.skipReason)
	}
	return l
}

// preflight returns why the suite cannot run here (a reason to skip), or an
// error when it must not run. It removes the leftovers of an earlier crashed
// run of this suite, and refuses to touch a lab that is someone else's.
func (s *Suite) preflight() (string, error) {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, routes, iptables)", nil
	}
	root, err := lab.RepoRoot()
	if err != nil {
		return "", err
	}
	if _, err := lab.FindTools(root); err != nil {
		return fmt.Sprintf("%v (run `make tools build`)", err), nil
	}
	if s.NeedsFRR {
		if _, err := os.Stat("/usr/lib/frr/bgpd"); err != nil {
			return "FRR is not installed (hack/install-deps.sh installs it)", nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.OtherLabWait+downTimeout)
	defer cancel()
	dir := s.Options.Dir
	if _, err := os.Stat(dir); err == nil {
		fmt.Printf("%s: removing the leftovers of an earlier run in %s\n", s.Name, dir)
		if err := lab.Down(ctx, dir); err != nil {
			fmt.Printf("%s: removing leftovers: %v\n", s.Name, err)
		}
	}
	_, err = WaitFor(s.OtherLabWait, 5*time.Second, "no other lab on this machine", func() error {
		names, err := LabNamespaces(ctx)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("namespaces %s", strings.Join(names, " "))
		}
		if !s.OwnsEtcd {
			return nil
		}
		busy, err := busyEtcdPorts(ctx)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			return fmt.Errorf("an etcd listens on %s", strings.Join(busy, " "))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("another lab is running (%w); stop it with `make lab-down` first", err)
	}
	return "", nil
}

// watchForAbort tears the lab down before the process dies of SIGINT,
// SIGTERM or `go test -timeout`, none of which runs deferred code.
func (s *Suite) watchForAbort() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var timer <-chan time.Time
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 2*timeoutMargin {
			timer = time.After(d - timeoutMargin)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Printf("%s: %v: tearing the lab down\n", s.Name, sig)
		case <-timer:
			fmt.Printf("%s: the suite is about to hit -timeout: tearing the lab down\n", s.Name)
		case <-done:
			return
		}
		s.teardown(s.lab.Load(), true, "aborted")
		os.Exit(1)
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// teardown runs once: on failure it first saves the lab's state and logs
// where a failed run can be read, then removes the lab.
func (s *Suite) teardown(l *lab.Lab, failed bool, label string) {
	s.teardownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
		defer cancel()
		if failed && l != nil {
			if path, err := s.saveDump(ctx, l, label, true); err != nil {
				fmt.Printf("%s: saving the dump: %v\n", s.Name, err)
			} else {
				fmt.Printf("%s: the failed run's state and logs are in %s\n", s.Name, path)
			}
		}
		dir := s.Options.Dir
		fmt.Printf("%s: tearing the lab down (%s)\n", s.Name, dir)
		if err := lab.Down(ctx, dir); err != nil {
			fmt.Printf("%s: lab down: %v\n", s.Name, err)
		}
		if s.OwnsEtcd {
			stopOwnLeftovers(s.Name, dir)
		}
	})
}

// ArtifactsDir is a fresh dir per run under the temp dir, named after the
// suite, for Suite.Artifacts.
func ArtifactsDir(name string) string {
	return filepath.Join(os.TempDir(), name, time.Now().Format("20060102-150405"))
}
