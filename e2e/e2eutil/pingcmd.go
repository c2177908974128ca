//go:build e2e

package e2eutil

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// StartPingerCmd is StartPinger from a namespace that is not a named one
// (a pod's, made by a container runtime): prefix is the command that enters
// it and must exec ping in place, e.g. nsenter --net=/proc/<pid>/ns/net.
func StartPingerCmd(prefix []string, to netip.Addr, interval, maxRun time.Duration) (*Pinger, error) {
	p := &Pinger{done: make(chan error, 1)}
	argv := append(append([]string{}, prefix...), "ping", "-n", "-D", "-O",
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64),
		"-W", "1", "-w", strconv.Itoa(int(maxRun.Seconds())), to.String())
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ping %s from %s: %w", to, strings.Join(prefix, " "), err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}
