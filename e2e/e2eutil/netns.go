//go:build e2e

package e2eutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/lab"
	"github.com/vishvananda/netns"
)

// Sockets belong to the namespace of the thread that creates them. These
// helpers create listeners and connections inside a lab namespace from the
// test process itself, so the suite needs no socat, nc or curl on the host.

// InNetns runs fn on an OS thread switched into the named namespace. If the
// thread cannot be switched back it stays locked, and Go retires it when the
// goroutine ends, so no other goroutine ever runs in the wrong namespace.
func InNetns(name string, fn func() error) error {
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

// DialIn opens a TCP connection from inside a namespace.
func DialIn(ctx context.Context, ns, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := InNetns(ns, func() error {
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

// EchoServer answers every line it reads with "<name> from <client IP>:
// <line>", so a client knows who answered and with which source address its
// packets arrived, not only that something answered.
type EchoServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

// StartEcho listens on addr inside a namespace and serves until Close.
func StartEcho(ns, addr, name string) (*EchoServer, error) {
	var ln net.Listener
	err := InNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, ns, err)
	}
	s := &EchoServer{name: name, ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *EchoServer) serve() {
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

// Close stops listening and waits for the connections in flight.
func (s *EchoServer) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// Echo sends one line from ns to addr and returns the answer without its
// newline.
func Echo(ctx context.Context, ns, addr, line string) (string, error) {
	conn, err := DialIn(ctx, ns, addr, 5*time.Second)
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

// HTTPGetIn fetches url from inside a namespace and returns status and body.
func HTTPGetIn(ctx context.Context, ns, url string) (int, string, error) {
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return DialIn(ctx, ns, addr, 5*time.Second)
			},
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s in %s: %w", url, ns, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("GET %s in %s: reading the body: %w", url, ns, err)
	}
	return resp.StatusCode, string(body), nil
}

// CheckPodTCP: a TCP echo listener in pod to on port answers a line sent
// from pod from, and the reply shows from's own pod IP (no NAT between pods).
func CheckPodTCP(ctx context.Context, t *testing.T, from, to *lab.Pod, port string) {
	t.Helper()
	CheckPodTCPAddrs(ctx, t, from, to, from.IP, to.IP, port)
}

// CheckPodTCPAddrs is CheckPodTCP between given addresses of the two pods
// (their IPv6 ones on a dual-stack node): the listener on dst sees src.
func CheckPodTCPAddrs(ctx context.Context, t *testing.T, from, to *lab.Pod, src, dst netip.Addr, port string) {
	t.Helper()
	addr := net.JoinHostPort(dst.String(), port)
	LogStep(t, "TCP: a listener in %s on %s answers a line sent from %s (%s)", to.Netns, addr, from.Netns, src)
	srv, err := StartEcho(to.Netns, addr, to.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	line := "hello from " + from.Netns
	want := fmt.Sprintf("%s from %s: %s", to.Netns, src, line)
	Eventually(t, 10*time.Second, time.Second, "TCP to "+addr, func() error {
		got, err := Echo(ctx, from.Netns, addr, line)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("reply %q, want %q", got, want)
		}
		return nil
	})
}
