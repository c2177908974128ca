package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// injectorStopWait bounds the injector's own shutdown after its stdin closes.
const injectorStopWait = 10 * time.Second

// injectorProc is bgpinject running in injectorNetns, driven by lines on its
// stdin and answering on its stdout.
type injectorProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stdout, line by line; closed when it ends
	exited chan struct{}
	log    string
}

type injectorParams struct {
	Binary   string // bgpinject
	Prefixes string // file of prefixes to announce
	Peer     string // the agent's address
	PeerASN  int    // the agent's ASN
	Log      string // stderr goes here
	Packed   bool   // bgpinject -packed: as many prefixes in each UPDATE as fit
}

// injectorASN is the injector's own ASN: it is an upstream (eBGP) router to
// the agent, not a node.
const injectorASN = 65100

// agentASN is the agent's ASN: router run's --cluster-asn default, which the lab keeps.
const agentASN = 64512

func startInjector(p injectorParams) (*injectorProc, error) {
	logFile, err := os.Create(p.Log)
	if err != nil {
		return nil, fmt.Errorf("starting bgpinject: %w", err)
	}
	defer logFile.Close() // the child holds its own copy
	addr := injectorAddr.Addr().String()
	cmd := exec.Command("ip", "netns", "exec", injectorNetns, p.Binary,
		"-router-id", addr, "-next-hop", addr, "-prefixes", p.Prefixes,
		"-asn", strconv.Itoa(injectorASN), "-peer", p.Peer, "-peer-asn", strconv.Itoa(p.PeerASN))
	if p.Packed {
		cmd.Args = append(cmd.Args, "-packed")
	}
	cmd.Stderr = logFile
	// Its own process group: a Ctrl-C reaches the benchmark only, which then
	// stops the injector in order during cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting bgpinject: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting bgpinject: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting bgpinject (%s): %w", p.Binary, err)
	}
	inj := &injectorProc{cmd: cmd, stdin: stdin, lines: make(chan string, 16), exited: make(chan struct{}), log: p.Log}
	go func() {
		defer close(inj.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			inj.lines <- strings.TrimSpace(sc.Text())
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(inj.exited)
	}()
	return inj, nil
}

// expect waits for a line starting with want; "error" lines and an early end
// fail it.
func (inj *injectorProc) expect(ctx context.Context, want string, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-timer.C:
			return "", fmt.Errorf("bgpinject: no %q within %s (log %s)", want, timeout, inj.log)
		case line, ok := <-inj.lines:
			switch {
			case !ok:
				return "", fmt.Errorf("bgpinject ended before %q (log %s)", want, inj.log)
			case strings.HasPrefix(line, want):
				return line, nil
			case strings.HasPrefix(line, "error"):
				return "", fmt.Errorf("bgpinject: %s", line)
			}
		}
	}
}

func (inj *injectorProc) send(cmd string) error {
	if _, err := io.WriteString(inj.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("bgpinject: sending %q: %w", cmd, err)
	}
	return nil
}

// stop closes stdin, which ends the injector; if it does not end in time it
// is killed, by PID.
func (inj *injectorProc) stop() error {
	_ = inj.stdin.Close()
	select {
	case <-inj.exited:
		return nil
	case <-time.After(injectorStopWait):
	}
	if err := inj.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing bgpinject (pid %d): %w", inj.cmd.Process.Pid, err)
	}
	<-inj.exited
	return nil
}
