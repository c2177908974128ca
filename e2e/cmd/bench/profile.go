package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The agent's pprof endpoints (router run --profiling) on its health address,
// reached from inside the node's namespace.
const agentPprof = "http://127.0.0.1:9779/debug/pprof/"

// profiler fetches a process's profiles into a dir: a CPU profile over both
// measures, and heap profiles with the routes installed and after the
// withdraw. Nothing happens when dir is "".
type profiler struct {
	// url is the pprof endpoints' root, reached from inside netns.
	dir, netns, url string
	seconds         int
	cpuDone         chan error
}

// startCPU starts a CPU profile of the agent in the background; waitCPU
// collects it.
func (p *profiler) startCPU(ctx context.Context) {
	if p.dir == "" {
		return
	}
	p.cpuDone = make(chan error, 1)
	go func() {
		p.cpuDone <- p.fetch(ctx, fmt.Sprintf("profile?seconds=%d", p.seconds), "cpu.pprof", time.Duration(p.seconds)*time.Second)
	}()
}

func (p *profiler) waitCPU() error {
	if p.cpuDone == nil {
		return nil
	}
	return <-p.cpuDone
}

// heap saves the in-use heap after a GC, named for the moment it was taken.
func (p *profiler) heap(ctx context.Context, when string) error {
	if p.dir == "" {
		return nil
	}
	return p.fetch(ctx, "heap?gc=1", "heap-"+when+".pprof", 0)
}

// snapshot saves the heap (after a GC) and every goroutine's stack, named
// for the moment: two snapshots diff into what grew between them.
func (p *profiler) snapshot(ctx context.Context, when string) error {
	if p.dir == "" {
		return nil
	}
	return errors.Join(p.heap(ctx, when), p.fetch(ctx, "goroutine?debug=1", "goroutines-"+when+".txt", 0))
}

func (p *profiler) fetch(ctx context.Context, what, file string, takes time.Duration) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("profile dir: %w", err)
	}
	out := filepath.Join(p.dir, file)
	maxTime := fmt.Sprint(int((takes + 30*time.Second).Seconds()))
	if _, err := run(ctx, "ip", "netns", "exec", p.netns, "curl", "-sSf", "--max-time", maxTime, "-o", out, p.url+what); err != nil {
		return fmt.Errorf("agent profile %s: %w", what, err)
	}
	fmt.Fprintf(os.Stderr, "    profile %s\n", out)
	return nil
}

// heapsDuring saves a heap profile every interval until the returned stop
// is called, named heap-<when>-NN: each holds the heap as the last GC left
// it, so the one with the most in use shows what is live at the peak (a GC
// forced from outside would move the peak it looks for).
func (p *profiler) heapsDuring(ctx context.Context, when string, interval time.Duration) (stop func()) {
	if p.dir == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := p.fetch(ctx, "heap", fmt.Sprintf("heap-%s-%02d.pprof", when, i), 0); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "    %v\n", err)
			}
		}
	}()
	return func() { cancel(); <-done }
}
