//go:build e2e

package dualstack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping sends count echo requests from a namespace and wants every answer.
func ping(ctx context.Context, fromNs string, to netip.Addr, count int) error {
	out, runErr := run(ctx, "ip", "netns", "exec", fromNs, "ping", "-n", "-q",
		"-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", to.String())
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("ping %s from %s: no summary in %q (%v)", to, fromNs, out, runErr)
	}
	if m[2] != strconv.Itoa(count) {
		return fmt.Errorf("ping %s from %s: sent %s, received %s", to, fromNs, m[1], m[2])
	}
	return nil
}

// inNetns runs fn on an OS thread switched into the named namespace. If the
// thread cannot be switched back it stays locked, and Go retires it when the
// goroutine ends, so no other goroutine ever runs in the wrong namespace.
func inNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("reading the current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	defer target.Close()
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", name, err)
	}
	return fn()
}

// startEcho listens on addr inside a namespace and answers each connection's
// first line with "<client IP>: <line>", so the client learns with which
// source address its packets arrived. It serves until the listener closes.
func startEcho(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, ns, err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				client, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
				_, _ = io.WriteString(conn, client+": "+line)
			}()
		}
	}()
	return ln, nil
}

// echo sends one line over TCP from ns to addr and returns the answer
// without its newline.
func echo(ctx context.Context, ns, addr, line string) (string, error) {
	var conn net.Conn
	err := inNetns(ns, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("connecting from %s to %s: %w", ns, addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", fmt.Errorf("sending to %s from %s: %w", addr, ns, err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the reply of %s in %s: %w", addr, ns, err)
	}
	return strings.TrimSuffix(reply, "\n"), nil
}
