package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The benchmark's namespaces and links carry a prefix of their own (nsc-), so
// it never touches the netns lab (lab-*) and needs none of its lock. Every
// node that runs something has a namespace on one bridge in nsc-fabric; the
// API server is reached through a veth whose root end holds apiAddr.
const (
	prefix       = "nsc-"
	fabricNetns  = prefix + "fabric"
	agentNetns   = prefix + "agent"
	fabricBridge = "br0"
	rootLink     = prefix + "api" // the root namespace's end, holding apiAddr
)

func reflectorNetns(k int) string { return fmt.Sprintf("%srr%d", prefix, k) }

// run runs one command and returns its output; the error names the command
// and carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func ip(ctx context.Context, steps ...[]string) error {
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// addFabric makes the bridge and plugs the root namespace into it with
// apiAddr, where the API server will bind.
func addFabric(ctx context.Context) error {
	err := ip(ctx,
		[]string{"netns", "add", fabricNetns},
		[]string{"-n", fabricNetns, "link", "add", fabricBridge, "type", "bridge"},
		[]string{"-n", fabricNetns, "link", "set", fabricBridge, "up"},
		[]string{"link", "add", rootLink, "type", "veth", "peer", "name", "api", "netns", fabricNetns},
		[]string{"-n", fabricNetns, "link", "set", "api", "master", fabricBridge},
		[]string{"-n", fabricNetns, "link", "set", "api", "up"},
		[]string{"addr", "add", apiAddr.String(), "dev", rootLink},
		[]string{"link", "set", rootLink, "up"},
	)
	if err != nil {
		return fmt.Errorf("creating %s: %w", fabricNetns, err)
	}
	return nil
}

// addHost makes a namespace with eth0 on the fabric bridge holding addr on
// the node subnet.
func addHost(ctx context.Context, netns string, addr netip.Addr) error {
	port := hostPort(netns)
	err := ip(ctx,
		[]string{"netns", "add", netns},
		[]string{"-n", netns, "link", "set", "lo", "up"},
		[]string{"-n", fabricNetns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns},
		[]string{"-n", fabricNetns, "link", "set", port, "master", fabricBridge},
		[]string{"-n", fabricNetns, "link", "set", port, "up"},
		[]string{"-n", netns, "addr", "add", netip.PrefixFrom(addr, nodeSubnet.Bits()).String(), "dev", "eth0"},
		[]string{"-n", netns, "link", "set", "eth0", "up"},
	)
	if err != nil {
		return fmt.Errorf("creating %s: %w", netns, err)
	}
	return nil
}

// hostPort is the fabric's end of a host namespace's eth0.
func hostPort(netns string) string { return "v" + strings.TrimPrefix(netns, prefix) }

// deleteHost removes a host namespace and, first, its veth: the kernel
// removes a deleted namespace's links in the background, and a namespace of
// the same name made at once would find the fabric's end still there.
func deleteHost(ctx context.Context, netns string) error {
	if _, err := os.Stat(filepath.Join("/var/run/netns", fabricNetns)); err == nil {
		if _, err := run(ctx, "ip", "-n", fabricNetns, "link", "show", hostPort(netns)); err == nil {
			if _, err := run(ctx, "ip", "-n", fabricNetns, "link", "del", hostPort(netns)); err != nil {
				return fmt.Errorf("deleting %s's link: %w", netns, err)
			}
		}
	}
	return deleteNetns(ctx, netns)
}

// deleteNetns removes one of the benchmark's namespaces (its veths go with
// it); a missing one is not an error.
func deleteNetns(ctx context.Context, name string) error {
	if _, err := os.Stat(filepath.Join("/var/run/netns", name)); err != nil {
		return nil
	}
	if _, err := run(ctx, "ip", "netns", "del", name); err != nil {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	return nil
}

// deleteNetwork removes every namespace and link of the benchmark: the root
// end of the API veth goes with the fabric namespace.
func deleteNetwork(ctx context.Context) error {
	var errs []string
	for _, ns := range []string{agentNetns, reflectorNetns(reflectorNodes[0]), reflectorNetns(reflectorNodes[1]), fabricNetns} {
		if err := deleteNetns(ctx, ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", rootLink)); err == nil {
		if _, err := run(ctx, "ip", "link", "del", rootLink); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing the network: %s", strings.Join(errs, "; "))
	}
	return nil
}

// countRoutes counts the agent's IPv4 kernel routes (route protocol 78).
func countRoutes(ctx context.Context) (int, error) {
	out, err := run(ctx, "ip", "-n", agentNetns, "-4", "route", "show", "proto", "78")
	if err != nil {
		return 0, err
	}
	return strings.Count(out, "\n"), nil
}
