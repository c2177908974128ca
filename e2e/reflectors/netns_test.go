//go:build e2e

package reflectors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
)

// Sockets belong to the namespace of the thread that creates them. These
// helpers create listeners and connections inside a lab namespace from the
// test process itself, so the suite needs no socat, nc or curl on the host.

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
	// Restores also when fn panics.
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

// dialIn opens a TCP connection from inside a namespace.
func dialIn(ctx context.Context, ns, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(ns, func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting from %s to %s: %w", ns, addr, err)
	}
	return conn, nil
}

// echoServer answers every line it reads with "<name> from <client IP>:
// <line>", so a client knows who answered and with which source address its
// packets arrived, not only that something answered.
type echoServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

// startEcho listens on addr inside a namespace and serves until Close.
func startEcho(ns, addr, name string) (*echoServer, error) {
	var ln net.Listener
	err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, ns, err)
	}
	s := &echoServer{name: name, ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *echoServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				return
			}
			client, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
			_, _ = io.WriteString(conn, s.name+" from "+client+": "+line)
		}()
	}
}

func (s *echoServer) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// echo sends one line from ns to addr and returns the answer without its
// newline.
func echo(ctx context.Context, ns, addr, line string) (string, error) {
	conn, err := dialIn(ctx, ns, addr, 5*time.Second)
	if err != nil {
		return "", err
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
