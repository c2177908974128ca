//go:build e2e

package dualstack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// startEcho listens on addr inside a namespace and answers each connection's
// first line with "<client IP>: <line>", so the client learns with which
// source address its packets arrived. It serves until the listener closes.
func startEcho(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := e2eutil.InNetns(ns, func() error {
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
	conn, err := e2eutil.DialIn(ctx, ns, addr, 5*time.Second)
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
