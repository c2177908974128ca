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
	dir    string
	parent string // the bench's own cgroup
	v2     bool
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
			own := filepath.Join("/sys/fs/cgroup/memory", f[2])
			cg = agentCgroup{dir: filepath.Join(own, "nodebgp-bench-agent"), parent: own}
			break
		}
		if f[0] == "0" && f[1] == "" {
			own := filepath.Join("/sys/fs/cgroup", f[2])
			cg = agentCgroup{dir: filepath.Join(own, "nodebgp-bench-agent"), parent: own, v2: true}
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
	file := "memory.limit_in_bytes"
	if cg.v2 {
		file = "memory.max"
	}
	if err := cg.write(file, strconv.FormatInt(limit, 10)); err != nil {
		return nil, errors.Join(err, cg.remove())
	}
	return &cg, nil
}

func (cg *agentCgroup) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup %s: writing %s: %w", cg.dir, file, err)
	}
	return nil
}

// startIn runs start (which starts the agent) with the bench itself in the
// cgroup, so the agent is born in it: everything it ever maps is charged
// there, as in a container. (Moving a running process would leave what it
// has charged behind: the kernels here refuse to move charges.) The bench
// moves back to its own cgroup after.
func (cg *agentCgroup) startIn(start func() error) error {
	self := strconv.Itoa(os.Getpid())
	if err := cg.write("cgroup.procs", self); err != nil {
		return err
	}
	err := start()
	if werr := os.WriteFile(filepath.Join(cg.parent, "cgroup.procs"), []byte(self), 0o644); werr != nil {
		err = errors.Join(err, fmt.Errorf("moving the bench back to %s: %w", cg.parent, werr))
	}
	return err
}

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
