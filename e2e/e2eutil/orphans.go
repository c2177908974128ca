//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The lab's etcd listens on fixed ports. lab.Up can leave an etcd behind
// that its pid file does not name (a retry after a false "exited before it
// was ready" starts a second one while the first runs on), Down then cannot
// stop it, and the next lab's apiserver talks to it: the next lab inherits
// its Node objects. So the suite waits for the ports to be free before it
// starts, and after Down ends what is left of its own control plane.
var etcdPorts = []string{"12379", "12380"}

// busyEtcdPorts lists the etcd ports something listens on.
func busyEtcdPorts(ctx context.Context) ([]string, error) {
	out, err := Output(ctx, "ss", "-Hltn")
	if err != nil {
		return nil, err
	}
	var busy []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		for _, p := range etcdPorts {
			if strings.HasSuffix(f[3], ":"+p) {
				busy = append(busy, f[3])
			}
		}
	}
	return busy, nil
}

// stopOwnLeftovers ends, by pid, the processes whose command line names a
// file under dir (the suite's own etcd and kube-apiserver), SIGTERM first.
func stopOwnLeftovers(name, dir string) {
	pids := ownProcesses(dir)
	for _, pid := range pids {
		fmt.Printf("%s: pid %d still runs from %s after lab down: stopping it\n", name, pid, dir)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(ownProcesses(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, pid := range ownProcesses(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func ownProcesses(dir string) []int {
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, e := range entries {
		raw, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, arg := range strings.Split(string(raw), "\x00") {
			if _, value, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(value, dir+"/") && strings.HasPrefix(arg, "--") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
