package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// saveProfile fetches one of the agent's pprof profiles (router run
// --profiling) into dir/<agent>-<file>; nothing happens when dir is "".
// Allocation profiles (allocs) are cumulative: `go tool pprof -base` of two
// shows what was allocated in between. The runtime publishes a GC cycle's
// allocations only when the next cycle ends, so an allocation profile is
// asked twice with gc=1 (two collections) and the second one kept; with
// one, a pass from seconds before showed up in the next window.
func saveProfile(ctx context.Context, dir, health, agent, what, file string, takes time.Duration) error {
	if dir == "" {
		return nil
	}
	if strings.HasPrefix(what, "allocs") {
		if err := fetchProfile(ctx, health, what, io.Discard, takes); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile dir: %w", err)
	}
	out := filepath.Join(dir, agent+"-"+file)
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("agent profile %s: %w", what, err)
	}
	if err := fetchProfile(ctx, health, what, f, takes); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fetchProfile copies one pprof endpoint's answer to w.
func fetchProfile(ctx context.Context, health, what string, w io.Writer, takes time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, takes+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("agent profile %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent profile %s: %s", what, resp.Status)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("agent profile %s: %w", what, err)
	}
	return nil
}
