package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A daemon is one long-running process of the cluster (etcd, kube-apiserver, a
// node's containerd, kubelet or kube-proxy). It is started detached, so it
// outlives `cluster up`, and recognised later by its pid and the start time the
// kernel recorded for that pid: unlike the command line, the start time does not
// change when nsenter execs the real command, and a reused pid has another.
type daemon struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Start   uint64 `json:"start"` // field 22 of /proc/<pid>/stat
	LogPath string `json:"log"`
}

// daemonParams say how to start a daemon.
type daemonParams struct {
	Name string
	Dir  string // the cluster's state dir: <Dir>/pids/<Name>.json, <Dir>/logs/<Name>.log
	// Cgroups: the process joins these cgroup dirs (one per mounted hierarchy)
	// before it execs, so everything it forks later (containerd's shims, their
	// containers) is found by cgroup at teardown too.
	Cgroups []string
	// Nsenter: the namespace files to enter (net, mount, uts), in nsenter's
	// option form, e.g. "--net=/run/netns/clu-node1".
	Nsenter []string
	Args    []string
	Env     []string
}

const (
	stopWait = 20 * time.Second
	killWait = 10 * time.Second
	pollStep = 100 * time.Millisecond
)

func pidFile(dir, name string) string { return filepath.Join(dir, "pids", name+".json") }

// LogPath is the log of the daemon called name.
func LogPath(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

// startDaemon starts p through `sh -c` that joins the cgroups, then nsenter
// into the namespaces (nsenter execs the command in place: same pid).
func startDaemon(p daemonParams) (*daemon, error) {
	if old, err := loadDaemon(p.Dir, p.Name); err == nil && old.alive() {
		return nil, fmt.Errorf("starting %s: already running as pid %d", p.Name, old.PID)
	}
	for _, d := range []string{filepath.Join(p.Dir, "pids"), filepath.Join(p.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("starting %s: %w", p.Name, err)
		}
	}
	logPath := LogPath(p.Dir, p.Name)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	defer logFile.Close()
	argv := []string{"sh", "-c", `for c in $NODEBGP_CLUSTER_CGROUPS; do echo $$ >"$c/cgroup.procs" || exit 1; done; exec "$@"`, "sh"}
	if len(p.Nsenter) > 0 {
		argv = append(argv, "nsenter")
		argv = append(argv, p.Nsenter...)
		argv = append(argv, "--")
	}
	argv = append(argv, p.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = append(append(os.Environ(), p.Env...), "NODEBGP_CLUSTER_CGROUPS="+strings.Join(p.Cgroups, " "))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Fprintf(logFile, "--- %s starting: %s\n", time.Now().Format(time.RFC3339), strings.Join(p.Args, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	// Reap it when it exits while we run; a fresh `cluster down` finds it by pid.
	go func() { _ = cmd.Wait() }()
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	d := &daemon{Name: p.Name, PID: cmd.Process.Pid, Start: start, LogPath: logPath}
	raw, _ := json.Marshal(d)
	if err := os.WriteFile(pidFile(p.Dir, p.Name), raw, 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	return d, nil
}

func loadDaemon(dir, name string) (*daemon, error) {
	raw, err := os.ReadFile(pidFile(dir, name))
	if err != nil {
		return nil, err
	}
	var d daemon
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("reading %s: %w", pidFile(dir, name), err)
	}
	return &d, nil
}

// startTime reads the start time (clock ticks since boot) of a pid.
func startTime(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: malformed stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("pid %d: exited", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func (d *daemon) alive() bool {
	st, err := startTime(d.PID)
	return err == nil && st == d.Start
}

// stop sends SIGTERM to the daemon's process group, then SIGKILL after stopWait.
func (d *daemon) stop(wait time.Duration) error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !d.alive() {
			return nil
		}
		if err := syscall.Kill(-d.PID, sig); errors.Is(err, syscall.ESRCH) {
			_ = syscall.Kill(d.PID, sig)
		}
		deadline := time.Now().Add(wait)
		for d.alive() && time.Now().Before(deadline) {
			time.Sleep(pollStep)
		}
		wait = killWait
	}
	if d.alive() {
		return fmt.Errorf("stopping %s: pid %d still running after SIGKILL", d.Name, d.PID)
	}
	return nil
}

// stopDaemon stops the daemon called name by its pid file and removes the file.
func stopDaemon(dir, name string, wait time.Duration) error {
	d, err := loadDaemon(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := d.stop(wait); err != nil {
		return err
	}
	if err := os.Remove(pidFile(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// logTail returns the last n lines of a log, for error messages.
func logTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
