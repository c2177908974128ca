//go:build e2e

// Package ecmp is nodebgp's end-to-end suite for equal-cost multipath to
// upstream routers: one rack behind two FRR ToRs (AS 65000), two nodes that
// run the agent without iBGP, each in its own AS and peering with both ToRs
// of its rack, with --accept-upstream-routes. Both ToRs announce the same
// upstream prefix. TestMain brings the lab up once in its own dir, TestECMP
// walks through the promises in order, and the lab is always torn down, with
// a dump when a step failed. docs/lab.md lists the steps.
package ecmp

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
	// labDir is the suite's own lab state dir (short: FRR's unix socket
	// paths live under it).
	labDir     = "/tmp/nodebgp-ecmp"
	syncPeriod = 5 * time.Second
	upTimeout  = 6 * time.Minute
	// downTimeout bounds the teardown: agents get 15 s each to stop.
	downTimeout = 3 * time.Minute
	// timeoutMargin: the suite tears the lab down itself this long before
	// `go test -timeout` would kill the process with the lab still up.
	timeoutMargin = 2 * time.Minute
	// otherLabWait bounds the wait for another lab's namespaces to go.
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
	artifacts = artifactsDir()
	reason, err := preflight()
	if err != nil {
		// Not skipped: a CI run that silently skipped would look green.
		fmt.Println("ecmp:", err)
		return 1
	}
	if reason != "" {
		skipReason = reason
		fmt.Println("ecmp: skipping:", reason)
		return m.Run()
	}
	stopWatch := watchForAbort()
	defer stopWatch()

	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	start := time.Now()
	l, err := lab.Up(ctx, labOptions())
	if err == nil {
		theLab.Store(l)
	}
	if err != nil {
		fmt.Printf("ecmp: lab up failed after %s: %v\n", time.Since(start).Round(time.Second), err)
		if l == nil {
			l, _ = lab.Load(labDir)
		}
		teardown(l, true, "lab-up")
		return 1
	}
	fmt.Printf("ecmp: lab up in %s\n", time.Since(start).Round(time.Second))

	code := m.Run()
	teardown(l, code != 0, "end")
	return code
}

// preflight returns why the suite cannot run here (a reason to skip), or an
// error when it must not run. It removes the leftovers of its own earlier
// run and waits (bounded) for another lab on the machine to go: the lab's
// namespace names are fixed, so two labs cannot run at once.
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
	if _, err := os.Stat("/usr/lib/frr/bgpd"); err != nil {
		return "FRR is not installed (hack/install-deps.sh installs it)", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), otherLabWait+downTimeout)
	defer cancel()
	if _, err := os.Stat(labDir); err == nil {
		fmt.Printf("ecmp: removing the leftovers of an earlier run in %s\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("ecmp: removing leftovers: %v\n", err)
		}
	}
	var names []string
	_, err = waitFor(otherLabWait, 5*time.Second, "no other lab on this machine", func() error {
		names, err = labNamespaces(ctx)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("namespaces %s", strings.Join(names, " "))
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

// labNamespaces lists the network namespaces that carry the lab's prefix.
func labNamespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
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
			fmt.Printf("ecmp: %v: tearing the lab down\n", s)
		case <-timer:
			fmt.Printf("ecmp: the suite is about to hit -timeout: tearing the lab down\n")
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

// teardown runs once: on failure it first saves the lab's state (agent
// logs, FRR tables and logs) where a failed run can be read.
func teardown(l *lab.Lab, failed bool, label string) {
	teardownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
		defer cancel()
		if failed && l != nil {
			if path, err := saveDump(ctx, l, label, true); err != nil {
				fmt.Printf("ecmp: saving the dump: %v\n", err)
			} else {
				fmt.Printf("ecmp: the failed run's state and logs are in %s\n", path)
			}
		}
		fmt.Printf("ecmp: tearing the lab down (%s)\n", labDir)
		if err := lab.Down(ctx, labDir); err != nil {
			fmt.Printf("ecmp: lab down: %v\n", err)
		}
		stopOwnLeftovers(labDir)
	})
}

// artifactsDir is where dumps go: $E2E_ARTIFACTS, else a fresh dir per run.
func artifactsDir() string {
	if d := os.Getenv("E2E_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "nodebgp-ecmp-artifacts", time.Now().Format("20060102-150405"))
}

// saveDump writes lab.Dump (nodes, then the ToRs' addresses, routes, BGP
// summary and table, bgpd log tail) to <artifacts>/dump-<label>.txt. The
// final dump is printed too and comes with a copy of every process log of
// the lab (agents, FRR, control plane), which Down removes.
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
	fmt.Fprintf(f, "nodebgp ecmp dump (%s) at %s\n", label, time.Now().Format(time.RFC3339))
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
