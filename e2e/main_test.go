//go:build e2e

// Package e2e is nodebgp's end-to-end suite: one real lab (a kube-apiserver,
// three nodes in network namespaces running `router run`, a pod on each) is
// brought up once by TestMain, TestE2E walks through the product's promises in
// a fixed order, and the lab is always torn down afterwards. docs/lab.md says
// how to run one step and how to read a failed run.
package e2e

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
	// labDir is the suite's own lab state dir, so it never adopts (or tears
	// down the dir of) a lab someone brought up with `make lab`.
	labDir = "/tmp/nodebgp-e2e"
	// syncPeriod is the agents' --routes-sync-period; repair deadlines are
	// multiples of it.
	syncPeriod = 5 * time.Second
	labNodes   = 3
	upTimeout  = 6 * time.Minute
	// downTimeout bounds the teardown: agents get 15 s each to stop.
	downTimeout = 3 * time.Minute
	// timeoutMargin is how long before `go test -timeout` fires the suite
	// tears the lab down itself: the test binary's own timeout panics and
	// would leave the lab running.
	timeoutMargin = 2 * time.Minute
)

// theLab is the lab every test uses; nil with skipReason set when the suite
// cannot run here. It is read by the abort watcher too, hence atomic.
var (
	theLab       atomic.Pointer[lab.Lab]
	skipReason   string
	artifacts    string // where dumps of a failed run go
	teardownOnce sync.Once
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	artifacts = artifactsDir()
	reason, err := preflight()
	if err != nil {
		// Not skipped: a CI run that silently skipped would look green.
		fmt.Println("e2e:", err)
		return 1
	}
	if reason != "" {
		skipReason = reason
		fmt.Println("e2e: skipping:", reason)
		return m.Run()
	}
	// From here on the lab exists (perhaps half made): every way out goes
	// through teardown, also a signal or the test binary's own timeout.
	stopWatch := watchForAbort()
	defer stopWatch()

	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	start := time.Now()
	l, err := lab.Up(ctx, lab.Options{
		Dir:              labDir,
		Nodes:            labNodes,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
	})
	cancel()
	if err != nil {
		fmt.Printf("e2e: lab up failed after %s: %v\n", time.Since(start).Round(time.Second), err)
		if l == nil {
			// Up returns no lab on failure; Load reads what it recorded.
			l, _ = lab.Load(labDir)
		}
		teardown(l, true, "lab-up")
		return 1
	}
	fmt.Printf("e2e: lab up in %s\n", time.Since(start).Round(time.Second))
	theLab.Store(l)

	code := m.Run()
	teardown(l, code != 0, "end")
	return code
}

// preflight returns why the suite cannot run here (a reason to skip), or an
// error when it must not run. It removes the leftovers of an earlier crashed
// run of this suite, and refuses to touch a lab that is someone else's: the
// lab's namespace names are fixed, so two labs cannot run at once.
func preflight() (string, error) {
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
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	if _, err := os.Stat(labDir); err == nil {
		fmt.Printf("e2e: removing the leftovers of an earlier run in %s\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("e2e: removing leftovers: %v\n", err)
		}
	}
	names, err := labNamespaces(ctx)
	if err != nil {
		return "", err
	}
	if len(names) > 0 {
		return "", fmt.Errorf("another lab is running (namespaces %s); stop it with `make lab-down` first", strings.Join(names, " "))
	}
	return "", nil
}

// watchForAbort tears the lab down before the process dies of SIGINT,
// SIGTERM or `go test -timeout`, none of which runs deferred code.
func watchForAbort() (stop func()) {
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
		case s := <-sigs:
			fmt.Printf("e2e: %v: tearing the lab down\n", s)
		case <-timer:
			fmt.Printf("e2e: the suite is about to hit -timeout: tearing the lab down\n")
		case <-done:
			return
		}
		teardown(theLab.Load(), true, "aborted")
		os.Exit(1)
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// teardown runs once: on failure it first saves the lab's state where a
// failed run can be read, then removes the lab.
func teardown(l *lab.Lab, failed bool, label string) {
	teardownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
		defer cancel()
		if failed && l != nil {
			if path, err := saveDump(ctx, l, label, true); err != nil {
				fmt.Printf("e2e: saving the dump: %v\n", err)
			} else {
				fmt.Printf("e2e: the failed run's state and agent logs are in %s\n", path)
			}
		}
		fmt.Printf("e2e: tearing the lab down (%s)\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("e2e: lab down: %v\n", err)
		}
	})
}

// artifactsDir is where dumps go: $E2E_ARTIFACTS, else a fresh dir per run.
func artifactsDir() string {
	if d := os.Getenv("E2E_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "nodebgp-e2e-artifacts", time.Now().Format("20060102-150405"))
}

// saveDump writes lab.Dump to <artifacts>/dump-<label>.txt and returns its
// path. The final dump is printed too, for CI logs, and comes with a copy of
// every process log of the lab (Down removes them); it returns the dir then.
func saveDump(ctx context.Context, l *lab.Lab, label string, final bool) (string, error) {
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", artifacts, err)
	}
	path := filepath.Join(artifacts, "dump-"+safeName(label)+".txt")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "nodebgp e2e dump (%s) at %s\n", label, time.Now().Format(time.RFC3339))
	var w io.Writer = f
	if final {
		w = io.MultiWriter(f, os.Stdout)
	}
	l.Dump(ctx, w)
	if final {
		if err := copyLogs(filepath.Join(labDir, "logs"), filepath.Join(artifacts, "logs")); err != nil {
			return path, err
		}
		return artifacts, nil
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
