package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupTop is the cluster's own cgroup in every hierarchy; each node gets
// <cgroupTop>/<node>/daemons (containerd, kubelet, kube-proxy and the shims
// containerd forks) and <cgroupTop>/<node>/pods (the kubelet's cgroupRoot).
const cgroupTop = "nodebgp-cluster"

// hierarchies lists the mount points of the machine's cgroup hierarchies (v1
// controllers, named ones, the v2 unified one), each once.
func hierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		i := slices.Index(fields, "-")
		if i < 0 || i+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if t := fields[i+1]; (t == "cgroup" || t == "cgroup2") && fields[3] == "/" && strings.HasPrefix(fields[4], "/sys/fs/cgroup") {
			if !slices.Contains(out, fields[4]) {
				out = append(out, fields[4])
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup hierarchy mounted under /sys/fs/cgroup")
	}
	return out, sc.Err()
}

// makeCgroup creates rel (e.g. nodebgp-cluster/clu-node1/pods) in every
// hierarchy, each level with cpuset.cpus and cpuset.mems copied from its
// parent where the cpuset controller asks for them, and returns the dirs.
func makeCgroup(rel string) ([]string, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, h := range hs {
		cur := h
		for _, part := range strings.Split(rel, "/") {
			parent := cur
			cur = filepath.Join(cur, part)
			if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("creating cgroup %s: %w", cur, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				have, err := os.ReadFile(filepath.Join(cur, f))
				if err != nil || strings.TrimSpace(string(have)) != "" {
					continue
				}
				want, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return nil, fmt.Errorf("reading %s: %w", filepath.Join(parent, f), err)
				}
				if err := os.WriteFile(filepath.Join(cur, f), want, 0o644); err != nil {
					return nil, fmt.Errorf("writing %s: %w", filepath.Join(cur, f), err)
				}
			}
		}
		dirs = append(dirs, cur)
	}
	return dirs, nil
}

// cgroupPIDs lists every process in rel and below, in every hierarchy.
func cgroupPIDs(rel string) []int {
	hs, _ := hierarchies()
	seen := map[int]bool{}
	var pids []int
	for _, h := range hs {
		_ = filepath.WalkDir(filepath.Join(h, rel), func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			raw, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, s := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(s); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// killCgroup ends every process in rel and below: it freezes the subtree so
// nothing forks while it is being emptied, sends SIGKILL to each, thaws it and
// waits (bounded) until the cgroups are empty.
func killCgroup(rel string, timeout time.Duration) error {
	freezer := filepath.Join("/sys/fs/cgroup/freezer", rel, "freezer.state")
	frozen := os.WriteFile(freezer, []byte("FROZEN"), 0o644) == nil
	deadline := time.Now().Add(timeout)
	for {
		pids := cgroupPIDs(rel)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if frozen {
			_ = os.WriteFile(freezer, []byte("THAWED"), 0o644)
			frozen = false
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v still there after %v", rel, pids, timeout)
		}
		time.Sleep(pollStep)
	}
	if frozen {
		_ = os.WriteFile(freezer, []byte("THAWED"), 0o644)
	}
	return nil
}

// removeCgroup removes rel and everything below it, deepest first, in every
// hierarchy. The cgroups must be empty (killCgroup).
func removeCgroup(rel string) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		root := filepath.Join(h, rel)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A cgroup that just lost its last process can be busy for a moment.
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(pollStep)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
