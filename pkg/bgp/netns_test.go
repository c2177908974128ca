package bgp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsChildEnv marks the child process that inPrivateNetns starts.
const netnsChildEnv = "NODEBGP_BGP_TEST_IN_NETNS"

// inPrivateNetns lets a test use loopback addresses besides 127.0.0.1
// (GoBGP keys neighbors by address, so three speakers that all peer need
// three addresses) without touching the host: it runs the calling test
// again in a child process inside a new, unnamed network namespace, which
// disappears with the child, and returns true only in that child. Needs
// root; skips otherwise.
func inPrivateNetns(t *testing.T) bool {
	t.Helper()
	return inPrivateNetnsFor(t, 55*time.Second)
}

// inPrivateNetnsFor is inPrivateNetns for a test or benchmark that may take
// up to timeout. A benchmark is run once (-test.benchtime=1x) in its own
// child process, so what it measures of the process (RSS, CPU) is its own.
func inPrivateNetnsFor(t testing.TB, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == "1" {
		bringUpLoopback(t)
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	args := []string{"-test.run=" + exactName(t.Name())}
	if _, bench := t.(*testing.B); bench {
		args = []string{"-test.run=^$", "-test.bench=" + exactName(t.Name()), "-test.benchtime=1x", "-test.benchmem"}
	}
	args = append(args, "-test.count=1", "-test.v", "-test.timeout="+timeout.String())
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if _, bench := t.(*testing.B); bench {
		// A benchmark's log is cut to a few lines; its figures are the point.
		fmt.Printf("%s in a private network namespace:\n%s", t.Name(), out)
	} else {
		t.Logf("test in a private network namespace:\n%s", out)
	}
	if err != nil {
		t.Fatalf("test in a private network namespace failed: %v", err)
	}
	return false
}

// exactName is a -test.run/-test.bench pattern matching only the (sub)test
// named name: each level of the name anchored and quoted.
func exactName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// bringUpLoopback sets lo up: a new network namespace starts with it down.
func bringUpLoopback(t testing.TB) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket for interface ioctl: %v", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatalf("reading flags of lo: %v", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("setting lo up: %v", err)
	}
}
