package bgp

import (
	"context"
	"os"
	"os/exec"
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
	if os.Getenv(netnsChildEnv) == "1" {
		bringUpLoopback(t)
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=55s")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("test in a private network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in a private network namespace failed: %v", err)
	}
	return false
}

// bringUpLoopback sets lo up: a new network namespace starts with it down.
func bringUpLoopback(t *testing.T) {
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
