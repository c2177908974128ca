//go:build e2e

// Package dualstack is nodebgp's end-to-end suite for dual-stack nodes: a
// flat lab of two nodes, each with an IPv4 and an IPv6 InternalIP and pod
// CIDR (lab.Options.DualStack), a pod on each. TestMain brings the lab up once
// in its own dir, TestDualStack walks through the promises of IPv6 routing in
// order (sessions per family, kernel routes, pod traffic over IPv6, IPv4
// unchanged), and the lab is always torn down, with a dump when a step failed.
package dualstack

import (
	"context"
	"flag"
	"fmt"
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
	// down) another suite's lab.
	labDir     = "/tmp/nodebgp-dualstack"
	labNodes   = 2
	syncPeriod = 5 * time.Second
	upTimeout  = 6 * time.Minute
	// downTimeout bounds the teardown: agents get 15 s each to stop.
	downTimeout = 3 * time.Minute
	// timeoutMargin: the suite tears the lab down itself this long before
	// `go test -timeout` would kill the process with the lab still up.
	timeoutMargin = 2 * time.Minute
	// otherLabWait bounds the wait for another lab's namespaces to go: the
	// lab's namespace names are fixed, so two labs cannot run at once.
	otherLabWait = 20 * time.Minute
)

var (
	theLab       atomic.Pointer[lab.Lab]
	skipReason   string
	artifacts    string
	teardownOnce sync.Once
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	artifacts = filepath.Join(os.TempDir(), "nodebgp-dualstack-artifacts", time.Now().Format("20060102-150405"))
	if d := os.Getenv("E2E_ARTIFACTS"); d != "" {
		artifacts = d
	}
	reason, err := preflight()
	if err != nil {
		// Not skipped: a CI run that silently skipped would look green.
		fmt.Println("dualstack:", err)
		return 1
	}
	if reason != "" {
		skipReason = reason
		fmt.Println("dualstack: skipping:", reason)
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
		DualStack:        true,
		RoutesSyncPeriod: syncPeriod,
		Logf:             func(f string, a ...any) { fmt.Printf("lab: "+f+"\n", a...) },
	})
	cancel()
	if err != nil {
		fmt.Printf("dualstack: lab up failed after %s: %v\n", time.Since(start).Round(time.Second), err)
		if l == nil {
			l, _ = lab.Load(labDir)
		}
		teardown(l, true, "lab-up")
		return 1
	}
	fmt.Printf("dualstack: lab up in %s\n", time.Since(start).Round(time.Second))
	theLab.Store(l)

	code := m.Run()
	teardown(l, code != 0, "end")
	return code
}

// preflight returns why the suite cannot run here (a reason to skip), or an
// error when it must not run. It removes the leftovers of an earlier crashed
// run of this suite and waits, bounded, for another suite's lab to go.
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
		fmt.Printf("dualstack: removing the leftovers of an earlier run in %s\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("dualstack: removing leftovers: %v\n", err)
		}
	}
	var names []string
	_, err = waitFor(otherLabWait, 10*time.Second, "other labs gone", func() error {
		names, err = labNamespaces(context.Background())
		if err == nil && len(names) > 0 {
			err = fmt.Errorf("namespaces %s", strings.Join(names, " "))
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("another lab is running: %w", err)
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
			fmt.Printf("dualstack: %v: tearing the lab down\n", s)
		case <-timer:
			fmt.Printf("dualstack: the suite is about to hit -timeout: tearing the lab down\n")
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

// teardown runs once: on failure it first saves the lab's state and agent
// logs where a failed run can be read, then removes the lab.
func teardown(l *lab.Lab, failed bool, label string) {
	teardownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
		defer cancel()
		if failed && l != nil {
			if path, err := saveDump(ctx, l, label, true); err != nil {
				fmt.Printf("dualstack: saving the dump: %v\n", err)
			} else {
				fmt.Printf("dualstack: the failed run's state and agent logs are in %s\n", path)
			}
		}
		fmt.Printf("dualstack: tearing the lab down (%s)\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("dualstack: lab down: %v\n", err)
		}
	})
}

// saveDump writes lab.Dump (plus both families' routes of every node) to
// <artifacts>/dump-<label>.txt; the final one also copies the process logs
// (Down removes them) and is printed for CI logs.
func saveDump(ctx context.Context, l *lab.Lab, label string, final bool) (string, error) {
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", artifacts, err)
	}
	path := filepath.Join(artifacts, "dump-"+strings.NewReplacer("/", "_", " ", "_").Replace(label)+".txt")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "nodebgp dual-stack dump (%s) at %s\n", label, time.Now().Format(time.RFC3339))
	l.Dump(ctx, f)
	for _, node := range l.Nodes {
		out, _ := run(ctx, "ip", "-6", "-n", node.Netns, "route", "show")
		fmt.Fprintf(f, "\n== %s: ip -6 route ==\n%s", node.Name, out)
		out, _ = run(ctx, "ip", "-n", node.Netns, "addr", "show")
		fmt.Fprintf(f, "\n== %s: ip addr ==\n%s", node.Name, out)
	}
	if !final {
		return path, nil
	}
	logs, _ := filepath.Glob(filepath.Join(labDir, "logs", "*.log"))
	to := filepath.Join(artifacts, "logs")
	if err := os.MkdirAll(to, 0o755); err != nil {
		return path, fmt.Errorf("creating %s: %w", to, err)
	}
	for _, src := range logs {
		if data, err := os.ReadFile(src); err == nil {
			_ = os.WriteFile(filepath.Join(to, filepath.Base(src)), data, 0o644)
		}
	}
	return artifacts, nil
}
