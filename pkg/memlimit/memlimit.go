// Package memlimit sets the Go garbage collector's two targets for the
// agent: its memory limit from the container's cgroup memory limit, so that
// the collector works harder as the agent nears its limit instead of the
// kernel's OOM killer ending it, and its heap growth (GOGC) lower than Go's
// default, so that the agent's memory is close to what it holds live.
package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Fraction of the cgroup limit that becomes the Go memory limit. The rest
// is for what the Go limit does not count or cannot shrink: memory the
// runtime has freed but the kernel still charges until it is reclaimed,
// fragmentation, and the page cache of files the agent writes. It is a soft
// limit: the heap may pass it when the live data needs more, and then the
// cgroup's limit, not Go's, decides.
const Fraction = 0.85

// GCPercent is the heap growth the agent runs with when GOGC is not set:
// the heap may grow by half of what the last collection found live before
// the next one. Go's default, 100, lets it double. The agent's heap is
// mostly long-lived tables (GoBGP's RIB, the node cache, the route record)
// and it allocates little once they are built, so the collections this adds
// are cheap at rest and cost CPU only in bursts. Measured
// (docs/benchmarks.md, "GOGC 50"): among 5,000 Nodes 60 MiB steady against
// 68-79 MiB; 100,000 routes peak at 171-173 MiB against 227-232 MiB, for
// about a quarter more CPU while they are installed and withdrawn.
const GCPercent = 50

// SetGCPercent sets the heap growth to GCPercent unless GOGC is set, which
// wins (the runtime applied it already). It returns the growth in force
// (-1: GOGC=off) and "GOGC" or "default".
func SetGCPercent() (percent int, source string) {
	if os.Getenv("GOGC") != "" {
		return gcPercentInForce(), "GOGC"
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent, "default"
}

// gcPercentInForce reads the heap growth without changing it (-1: off).
func gcPercentInForce() int {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	// The runtime reports its int32 setting as a uint64: off (-1) wraps.
	return int(int32(sample[0].Value.Uint64()))
}

// Result says what Set did.
type Result struct {
	// Limit is the Go memory limit now in force; 0 when none was set.
	Limit int64
	// Cgroup is the container's memory limit; 0 when it has none.
	Cgroup int64
	// Source is why: "GOMEMLIMIT" (the environment wins, the runtime
	// already applied it), "cgroup v1", "cgroup v2" or "none".
	Source string
}

// Set sets the Go memory limit to Fraction of the cgroup memory limit of
// this process (v1 or v2), unless GOMEMLIMIT is set, which wins. With no
// cgroup limit it changes nothing.
func Set() (Result, error) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		return Result{Limit: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT"}, nil
	}
	limit, version, err := cgroupLimit(os.DirFS("/"))
	if err != nil || limit == 0 {
		return Result{Source: "none"}, err
	}
	goLimit := int64(float64(limit) * Fraction)
	debug.SetMemoryLimit(goLimit)
	return Result{Limit: goLimit, Cgroup: limit, Source: version}, nil
}

// cgroupLimit returns the memory limit of this process's cgroup: the
// smallest of its own and its ancestors' (a container's limit may sit on a
// parent, the pod's), 0 when there is none. root is the filesystem root, so
// that tests can fake /proc and /sys.
func cgroupLimit(root fs.FS) (limit int64, version string, err error) {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, "", nil
		}
		return 0, "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		switch {
		case fields[0] == "0" && fields[1] == "":
			if l, ok := smallest(root, "sys/fs/cgroup", fields[2], "memory.max"); ok {
				return l, "cgroup v2", nil
			}
		case hasController(fields[1], "memory"):
			if l, ok := smallest(root, "sys/fs/cgroup/memory", fields[2], "memory.limit_in_bytes"); ok {
				return l, "cgroup v1", nil
			}
		}
	}
	return 0, "", nil
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smallest reads file in the cgroup dir and every ancestor up to the mount,
// and returns the smallest limit found. Inside a container's cgroup
// namespace the path is "/", and the mount's root is the container's cgroup;
// without one the path may not exist under the mount, and only the mount's
// root is read.
func smallest(root fs.FS, mount, cgroup, file string) (int64, bool) {
	var best int64
	found := false
	dir := path.Clean("/" + cgroup)
	for {
		if l, ok := readLimit(root, path.Join(mount, dir, file)); ok && (!found || l < best) {
			best, found = l, true
		}
		if dir == "/" {
			break
		}
		dir = path.Dir(dir)
	}
	return best, found
}

// unlimitedV1 is where cgroup v1 shows "no limit": the largest page-aligned
// int64 (9223372036854771712) or anything near it.
const unlimitedV1 = math.MaxInt64 / 2

func readLimit(root fs.FS, name string) (int64, bool) {
	data, err := fs.ReadFile(root, name)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false
	}
	l, err := strconv.ParseInt(s, 10, 64)
	if err != nil || l <= 0 || l >= unlimitedV1 {
		return 0, false
	}
	return l, true
}
