package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// agentCgroup is a memory cgroup of the bench's own, under the bench's own
// memory cgroup, holding the agent with a limit as a container's would.
type agentCgroup struct {
	dir string
	v2  bool
}

// newAgentCgroup makes the cgroup with limit bytes (v1 or v2, whichever
// holds the memory controller for this process).
func newAgentCgroup(limit int64) (*agentCgroup, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	var cg agentCgroup
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if strings.Contains(","+f[1]+",", ",memory,") {
			cg = agentCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", f[2], "nodebgp-bench-agent")}
			break
		}
		if f[0] == "0" && f[1] == "" {
			cg = agentCgroup{dir: filepath.Join("/sys/fs/cgroup", f[2], "nodebgp-bench-agent"), v2: true}
		}
	}
	if cg.dir == "" {
		return nil, errors.New("no memory cgroup for this process")
	}
	if err := cg.remove(); err != nil {
		return nil, err
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", cg.dir, err)
	}
	writes := [][2]string{{"memory.max", strconv.FormatInt(limit, 10)}}
	if !cg.v2 {
		// Charges move with the process, so what it has counts at once.
		writes = [][2]string{{"memory.move_charge_at_immigrate", "3"}, {"memory.limit_in_bytes", strconv.FormatInt(limit, 10)}}
	}
	for _, w := range writes {
		if err := cg.write(w[0], w[1]); err != nil {
			return nil, errors.Join(err, cg.remove())
		}
	}
	return &cg, nil
}

func (cg *agentCgroup) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup %s: writing %s: %w", cg.dir, file, err)
	}
	return nil
}

// add moves pid into the cgroup.
func (cg *agentCgroup) add(pid int) error { return cg.write("cgroup.procs", strconv.Itoa(pid)) }

// peakMiB is the cgroup's peak memory charge, and how often it hit its
// limit (v1 failcnt; v2 the "max" events).
func (cg *agentCgroup) peak() (mib float64, hits int64, err error) {
	peakFile, hitsFile, hitsKey := "memory.max_usage_in_bytes", "memory.failcnt", ""
	if cg.v2 {
		peakFile, hitsFile, hitsKey = "memory.peak", "memory.events", "max"
	}
	b, err := os.ReadFile(filepath.Join(cg.dir, peakFile))
	if err != nil {
		return 0, 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	b, err = os.ReadFile(filepath.Join(cg.dir, hitsFile))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case hitsKey == "" && len(f) == 1:
			hits, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 2 && f[0] == hitsKey:
			hits, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return float64(v) / (1 << 20), hits, nil
}

// remove deletes the cgroup; it must be empty (the agent stopped). A
// missing one is no error.
func (cg *agentCgroup) remove() error {
	for i := 0; ; i++ {
		err := os.Remove(cg.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if i == 50 {
			return fmt.Errorf("removing cgroup %s: %w", cg.dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parseMiB reads a size as Kubernetes writes memory: 256Mi, 1Gi, or bytes.
func parseMiB(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "Mi"):
		mult, s = 1<<20, strings.TrimSuffix(s, "Mi")
	case strings.HasSuffix(s, "Gi"):
		mult, s = 1<<30, strings.TrimSuffix(s, "Gi")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 256Mi)", s)
	}
	return v * mult, nil
}
