package lab

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// longRunning prints a line, then waits; sh stays the process (no exec) so its
// command line stays what was started.
var longRunning = []string{"sh", "-c", "echo started; sleep 300; :"}

func startForTest(t *testing.T, p ProcessParams) *Process {
	t.Helper()
	proc, err := StartProcess(p)
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	t.Cleanup(func() {
		if err := proc.Stop(time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return proc
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after 5s waiting for %s", what)
}

func TestStartedProcessIsFoundByNameLogsAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	proc := startForTest(t, ProcessParams{Name: "sleeper", Dir: dir, Args: longRunning})

	if !proc.Alive() {
		t.Fatal("process not alive right after start")
	}
	loaded, err := LoadProcess(dir, "sleeper")
	if err != nil {
		t.Fatalf("LoadProcess: %v", err)
	}
	if loaded.PID != proc.PID || !loaded.Alive() {
		t.Fatalf("loaded pid %d alive=%v, want pid %d alive", loaded.PID, loaded.Alive(), proc.PID)
	}
	waitFor(t, "the log to hold the process's output", func() bool {
		raw, _ := os.ReadFile(LogPath(dir, "sleeper"))
		return strings.Contains(string(raw), "\nstarted\n")
	})
	if _, err := StartProcess(ProcessParams{Name: "sleeper", Dir: dir, Args: longRunning}); err == nil {
		t.Fatal("second StartProcess of a live process succeeded, want refusal")
	}

	start := time.Now()
	if err := StopByName(dir, "sleeper", 5*time.Second); err != nil {
		t.Fatalf("StopByName: %v", err)
	}
	if proc.Alive() {
		t.Fatal("process alive after StopByName")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("SIGTERM stop took %v, want it to end without waiting for SIGKILL", d)
	}
	if _, err := LoadProcess(dir, "sleeper"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadProcess after stop: %v, want not exist", err)
	}
	if err := StopByName(dir, "sleeper", time.Second); err != nil {
		t.Errorf("StopByName of a stopped process: %v, want nil", err)
	}
}

func TestProcessIgnoringSIGTERMIsKilledAfterTimeout(t *testing.T) {
	dir := t.TempDir()
	args := []string{"sh", "-c", "trap '' TERM; echo started; sleep 300; :"}
	proc := startForTest(t, ProcessParams{Name: "stubborn", Dir: dir, Args: args})
	// The trap must be set before the signal arrives.
	waitFor(t, "the trap to be set", func() bool {
		raw, _ := os.ReadFile(proc.LogPath)
		return strings.Contains(string(raw), "\nstarted\n")
	})

	start := time.Now()
	if err := proc.Stop(300 * time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if proc.Alive() {
		t.Fatal("process alive after Stop")
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the SIGTERM timeout: SIGTERM was not ignored", d)
	}
}

func TestPidReusedByAnotherCommandIsNotSignalled(t *testing.T) {
	dir := t.TempDir()
	// Record a process, then point its pid file at a stranger.
	recorded := startForTest(t, ProcessParams{Name: "victim", Dir: dir, Args: longRunning})
	stranger := exec.Command("sleep", "300")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stranger.Start(); err != nil {
		t.Fatalf("starting stranger: %v", err)
	}
	t.Cleanup(func() {
		_ = stranger.Process.Kill()
		_ = stranger.Wait()
	})
	if err := os.WriteFile(pidPath(dir, "victim"), []byte(strconv.Itoa(stranger.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := StopByName(dir, "victim", time.Second); err != nil {
		t.Fatalf("StopByName: %v", err)
	}
	if err := stranger.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the stranger with the reused pid was signalled: %v", err)
	}
	if !recorded.Alive() {
		t.Fatal("the recorded process died although its pid file named another pid")
	}
}

func TestNetnsProcessKeepsItsPidInsideTheNamespace(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	const netns = "nbgp-proctest"
	// Remove a leftover of a crashed run first.
	_ = exec.Command("ip", "netns", "del", netns).Run()
	if out, err := exec.Command("ip", "netns", "add", netns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", netns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", netns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", netns, err, out)
		}
	})

	dir := t.TempDir()
	proc := startForTest(t, ProcessParams{Name: "inns", Dir: dir, Netns: netns, Args: longRunning})
	waitFor(t, "ip netns exec to exec the command in place", func() bool {
		raw, _ := os.ReadFile("/proc/" + strconv.Itoa(proc.PID) + "/cmdline")
		return string(raw) == strings.Join(longRunning, "\x00")+"\x00"
	})
	if !proc.Alive() {
		t.Fatal("process not alive after ip netns exec")
	}
	want, err := os.Stat("/var/run/netns/" + netns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.Stat("/proc/" + strconv.Itoa(proc.PID) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(want, got) {
		t.Fatalf("pid %d is not in namespace %s", proc.PID, netns)
	}
	if err := StopByName(dir, "inns", 5*time.Second); err != nil {
		t.Fatalf("StopByName: %v", err)
	}
	if proc.Alive() {
		t.Fatal("process alive after StopByName")
	}
}

// ignoresTERM stays up on SIGTERM, as a daemon that shuts down slowly would:
// only a kill ends it at once.
var ignoresTERM = []string{"sh", "-c", "trap '' TERM; echo started; sleep 300; :"}

func TestKillEndsAProcessAtOnceEvenOneThatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	proc := startForTest(t, ProcessParams{Name: "stubborn", Dir: dir, Args: ignoresTERM})
	waitFor(t, "the trap to be set", func() bool {
		raw, _ := os.ReadFile(LogPath(dir, "stubborn"))
		return strings.Contains(string(raw), "\nstarted\n")
	})
	if err := proc.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if proc.Alive() {
		t.Fatal("process alive after Kill")
	}
	if _, err := LoadProcess(dir, "stubborn"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadProcess after Kill: %v, want no pid file", err)
	}
}
