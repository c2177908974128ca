package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessParams describe a lab process: a daemon that outlives the command that
// started it (make lab returns, the lab keeps running; make lab-down, another
// process, stops it later by its pid file).
type ProcessParams struct {
	Name  string   // unique in Dir; names the pid file <Dir>/pids/<Name>.pid and log <Dir>/logs/<Name>.log
	Dir   string   // the lab state dir
	Netns string   // "" runs in the root namespace, else through `ip netns exec <Netns>`
	Args  []string // the command and its arguments
	Env   []string // added to this process's environment
}

// Process is a started (or loaded) lab process.
type Process struct {
	Name    string
	Dir     string
	PID     int
	Args    []string // what /proc/<PID>/cmdline must show for PID to still be ours
	Netns   string
	LogPath string

	// exited is closed once the child is reaped; nil when the process was loaded
	// from its pid file and so is not our child.
	exited chan struct{}
}

// processRecord is what the pid dir keeps besides the plain pid file: enough to
// recognise the process again from a fresh lab-down.
type processRecord struct {
	Args  []string `json:"args"`
	Netns string   `json:"netns,omitempty"`
}

const (
	pidsDir = "pids"
	logsDir = "logs"
	// killWait bounds the wait for the kernel to remove a process after SIGKILL.
	killWait = 5 * time.Second
	pollStep = 50 * time.Millisecond
)

func pidPath(dir, name string) string { return filepath.Join(dir, pidsDir, name+".pid") }

func recordPath(dir, name string) string { return filepath.Join(dir, pidsDir, name+".json") }

// LogPath is where the process called name in dir writes stdout and stderr.
func LogPath(dir, name string) string { return filepath.Join(dir, logsDir, name+".log") }

// StartProcess starts p detached: in its own session so it survives the parent
// and its terminal, stdin from /dev/null, stdout and stderr appended to its log.
// It refuses to start a second copy of a process that is still alive.
func StartProcess(p ProcessParams) (*Process, error) {
	if p.Name == "" || strings.ContainsRune(p.Name, '/') || len(p.Args) == 0 {
		return nil, fmt.Errorf("starting process %q: needs a name without '/' and a command", p.Name)
	}
	if old, err := LoadProcess(p.Dir, p.Name); err == nil && old.Alive() {
		return nil, fmt.Errorf("starting process %s: already running as pid %d", p.Name, old.PID)
	}
	for _, d := range []string{filepath.Join(p.Dir, pidsDir), filepath.Join(p.Dir, logsDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("starting process %s: %w", p.Name, err)
		}
	}
	logPath := LogPath(p.Dir, p.Name)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting process %s: %w", p.Name, err)
	}
	defer logFile.Close() // the child holds its own copy

	argv := p.Args
	if p.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", p.Netns}, p.Args...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Fprintf(logFile, "--- %s starting: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting process %s (%s): %w", p.Name, argv[0], err)
	}
	proc := &Process{
		Name:    p.Name,
		Dir:     p.Dir,
		PID:     cmd.Process.Pid,
		Args:    slices.Clone(p.Args),
		Netns:   p.Netns,
		LogPath: logPath,
		exited:  make(chan struct{}),
	}
	// Reap the child when it exits while we still run, so a stopped process
	// does not linger as a zombie that still answers signals.
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	if err := proc.writeFiles(); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("starting process %s: %w", p.Name, err)
	}
	return proc, nil
}

func (p *Process) writeFiles() error {
	rec, err := json.Marshal(processRecord{Args: p.Args, Netns: p.Netns})
	if err != nil {
		return fmt.Errorf("encoding record of %s: %w", p.Name, err)
	}
	if err := writeFileAtomic(recordPath(p.Dir, p.Name), rec); err != nil {
		return err
	}
	return writeFileAtomic(pidPath(p.Dir, p.Name), []byte(strconv.Itoa(p.PID)+"\n"))
}

// writeFileAtomic renames a finished temporary file into place, so a reader never
// sees a half-written pid file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// LoadProcess reads the pid file of the process called name in dir. The error
// wraps os.ErrNotExist when there is none.
func LoadProcess(dir, name string) (*Process, error) {
	raw, err := os.ReadFile(pidPath(dir, name))
	if err != nil {
		return nil, fmt.Errorf("loading process %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("loading process %s: pid file %s holds %q, not a pid", name, pidPath(dir, name), raw)
	}
	recRaw, err := os.ReadFile(recordPath(dir, name))
	if err != nil {
		return nil, fmt.Errorf("loading process %s: %w", name, err)
	}
	var rec processRecord
	if err := json.Unmarshal(recRaw, &rec); err != nil {
		return nil, fmt.Errorf("loading process %s: decoding %s: %w", name, recordPath(dir, name), err)
	}
	return &Process{Name: name, Dir: dir, PID: pid, Args: rec.Args, Netns: rec.Netns, LogPath: LogPath(dir, name)}, nil
}

// Alive reports whether PID is still running and still is this process: the pid
// may have been reused since the pid file was written.
func (p *Process) Alive() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
		}
	}
	return p.isOurs()
}

// isOurs checks /proc/<PID>: running (a zombie has exited), and its command line
// is ours (or still empty: the process is being exec'd). Under `ip netns exec`, ip execs the command in place (same pid), so
// until that exec the command line is still ip's own; both forms are ours.
func (p *Process) isOurs() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	if len(raw) == 0 {
		// A process in the middle of exec (seen in state D) shows an empty
		// command line for a moment. Taking it for gone made a lab start a
		// second etcd beside a first that then kept the ports.
		return true
	}
	got := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if slices.Equal(got, p.Args) {
		return true
	}
	return p.Netns != "" && slices.Equal(got, append([]string{"ip", "netns", "exec", p.Netns}, p.Args...))
}

// Stop sends SIGTERM, waits up to timeout, then sends SIGKILL, and removes the
// pid file. A process that is already gone (or whose pid now belongs to someone
// else) is not signalled; that is not an error.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Alive() {
		if err := p.signal(syscall.SIGTERM); err != nil {
			return err
		}
		if !p.waitGone(timeout) {
			if err := p.signal(syscall.SIGKILL); err != nil {
				return err
			}
			if !p.waitGone(killWait) {
				return fmt.Errorf("stopping process %s: pid %d still running after SIGKILL", p.Name, p.PID)
			}
		}
	}
	return p.forget()
}

// Kill sends SIGKILL at once, as a crash or a process manager's hard restart
// would end it, waits until it is gone and removes the pid file.
func (p *Process) Kill() error {
	if p.Alive() {
		if err := p.signal(syscall.SIGKILL); err != nil {
			return err
		}
		if !p.waitGone(killWait) {
			return fmt.Errorf("killing process %s: pid %d still running after SIGKILL", p.Name, p.PID)
		}
	}
	return p.forget()
}

// forget removes the pid file and record of a process that is gone.
func (p *Process) forget() error {
	for _, f := range []string{pidPath(p.Dir, p.Name), recordPath(p.Dir, p.Name)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("forgetting process %s: %w", p.Name, err)
		}
	}
	return nil
}

// signal signals the process group the process leads (it was started with
// setsid, so the group is ours alone), reaching any children it forked too. It
// re-checks that the pid is ours right before signalling.
func (p *Process) signal(sig syscall.Signal) error {
	if !p.isOurs() {
		return nil
	}
	err := syscall.Kill(-p.PID, sig)
	if errors.Is(err, syscall.ESRCH) {
		// The process left the group it was started in; signal it alone.
		err = syscall.Kill(p.PID, sig)
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping process %s: sending %v to pid %d: %w", p.Name, sig, p.PID, err)
	}
	return nil
}

func (p *Process) waitGone(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !p.Alive() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollStep)
	}
}

// StopByName stops the process called name in dir by its pid file, from any
// process (make lab-down). No pid file means nothing to stop.
func StopByName(dir, name string, timeout time.Duration) error {
	p, err := LoadProcess(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.Stop(timeout)
}

// Processes are the lab's daemons in one state dir, by name: each started
// detached (StartProcess), found again from any process by its pid file and
// stopped by PID, never by name. Agents, the ToRs' FRR and the control plane
// all run as such processes; their logs are LogPath(Dir, name).
type Processes struct {
	Dir string // the lab state dir
}

// Start starts the process called name, inside netns unless it is empty.
func (ps Processes) Start(name, netns string, args ...string) (*Process, error) {
	return StartProcess(ProcessParams{Name: name, Dir: ps.Dir, Netns: netns, Args: args})
}

// Get loads the process called name from its pid file.
func (ps Processes) Get(name string) (*Process, error) { return LoadProcess(ps.Dir, name) }

// Running reports whether the process called name is alive.
func (ps Processes) Running(name string) bool {
	p, err := LoadProcess(ps.Dir, name)
	return err == nil && p.Alive()
}

// Stop stops the process called name (SIGTERM, then SIGKILL after timeout).
func (ps Processes) Stop(name string, timeout time.Duration) error {
	return StopByName(ps.Dir, name, timeout)
}

// Kill ends the process called name with SIGKILL, as a crash would.
func (ps Processes) Kill(name string) error {
	p, err := LoadProcess(ps.Dir, name)
	if err != nil {
		return err
	}
	return p.Kill()
}

// Log is the path of the log of the process called name.
func (ps Processes) Log(name string) string { return LogPath(ps.Dir, name) }
