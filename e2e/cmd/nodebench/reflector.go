package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reflector stands in for a route-reflector node: bgpinject (GoBGP) on the
// reflector's node IP, peering iBGP with the agent and announcing every other
// node's pod CIDR with that node's IP as next hop — what a reflector passes
// on to a client once the cluster has converged. Two of them make the
// client's two sessions. It is not a nodebgp agent: the time from the
// agent's start to its routes therefore holds no reflector start-up.
type reflector struct {
	k      int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	log    string
}

const asn = 64512 // router run's --cluster-asn default: iBGP with every node

// writeRoutes writes the prefixes file of bgpinject: node k's pod CIDR and
// next hop for every node but the agent's.
func writeRoutes(path string, n int) error {
	var b strings.Builder
	for k := 1; k <= n; k++ {
		if k != agentNode {
			fmt.Fprintf(&b, "%s %s\n", podCIDR(k), nodeIP(k))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the reflectors' routes: %w", err)
	}
	return nil
}

// startReflector starts bgpinject in reflector k's namespace and has it
// announce the routes in prefixes (it waits for "announced").
func startReflector(binary, dir, prefixes string, k int) (*reflector, error) {
	log := filepath.Join(dir, fmt.Sprintf("reflector%d.log", k))
	logFile, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("reflector %s: %w", nodeName(k), err)
	}
	defer logFile.Close() // the child holds its own copy
	addr := nodeIP(k).String()
	cmd := exec.Command("ip", "netns", "exec", reflectorNetns(k), binary,
		"-router-id", addr, "-next-hop", addr, "-prefixes", prefixes,
		"-asn", strconv.Itoa(asn), "-peer", nodeIP(agentNode).String(), "-peer-asn", strconv.Itoa(asn),
		// The reflectors have the lower IPs, so they dial (as nodebgp's
		// lower-IP-dials rule has it), and the agent starts after them.
		"-connect-retry", "1s")
	cmd.Stderr = logFile
	// Its own process group: a Ctrl-C reaches the benchmark, which stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &reflector{k: k, cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}), log: log}
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("reflector %s: %w", nodeName(k), err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("reflector %s: %w", nodeName(k), err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("reflector %s: starting %s: %w", nodeName(k), binary, err)
	}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- strings.TrimSpace(sc.Text())
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(r.exited)
	}()
	if err := r.expect("ready", 30*time.Second); err != nil {
		r.stop()
		return nil, err
	}
	if _, err := io.WriteString(r.stdin, "announce\n"); err != nil {
		r.stop()
		return nil, fmt.Errorf("reflector %s: %w", nodeName(k), err)
	}
	if err := r.expect("announced", 60*time.Second); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// expect waits for a line starting with want, skipping others ("established"
// comes whenever the agent connects); "error" lines and an early end fail it.
func (r *reflector) expect(want string, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return fmt.Errorf("reflector %s: no %q within %s (log %s)", nodeName(r.k), want, timeout, r.log)
		case line, ok := <-r.lines:
			switch {
			case !ok:
				return fmt.Errorf("reflector %s ended before %q (log %s)", nodeName(r.k), want, r.log)
			case strings.HasPrefix(line, want):
				return nil
			case strings.HasPrefix(line, "error"):
				return fmt.Errorf("reflector %s: %s", nodeName(r.k), line)
			}
		}
	}
}

// stop closes stdin, which ends bgpinject; if it does not end in 10 s it is
// killed, by PID.
func (r *reflector) stop() error {
	_ = r.stdin.Close()
	go func() {
		for range r.lines { // drain, so the reader never blocks the child
		}
	}()
	select {
	case <-r.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing reflector %s (pid %d): %w", nodeName(r.k), r.cmd.Process.Pid, err)
	}
	<-r.exited
	return nil
}
