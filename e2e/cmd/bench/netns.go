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

// The benchmark's own namespaces. They carry the lab's prefix, so `make
// lab-down` removes them too if a run is killed before its cleanup.
const (
	injectorNetns  = "lab-bench"    // the route source, a peer on the fabric
	referenceNetns = "lab-benchref" // where ip -batch installs the same routes
	fabricNetns    = "lab-fabric"   // lab.FabricNetns
	fabricBridge   = "fabric0"
	injectorPort   = "vbench" // the injector's veth end on the fabric bridge
	refLink        = "ref0"
	refLinkPeer    = "ref1"
)

var (
	// injectorAddr is the injector's address on the lab's node subnet.
	injectorAddr = netip.MustParsePrefix("10.199.1.100/24")
	// refAddr and refGateway give the reference routes a connected next hop.
	refAddr    = netip.MustParsePrefix("10.250.0.1/24")
	refGateway = netip.MustParseAddr("10.250.0.2")
)

// run runs one command and returns its output; the error names the command
// and carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func netnsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/var/run/netns", name))
	return err == nil
}

func runSteps(ctx context.Context, steps [][]string) error {
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// addFabricNetns plugs a namespace into the lab's fabric bridge through a
// veth whose bridge end is port, with addr on its eth0, as if one more
// machine sat on the node subnet (the injector, the anchors' DUT).
func addFabricNetns(ctx context.Context, netns, port string, addr netip.Prefix) error {
	err := runSteps(ctx, [][]string{
		{"netns", "add", netns},
		{"-n", netns, "link", "set", "lo", "up"},
		{"-n", fabricNetns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns},
		{"-n", fabricNetns, "link", "set", port, "master", fabricBridge},
		{"-n", fabricNetns, "link", "set", port, "up"},
		{"-n", netns, "addr", "add", addr.String(), "dev", "eth0"},
		{"-n", netns, "link", "set", "eth0", "up"},
	})
	if err != nil {
		return fmt.Errorf("creating namespace %s on %s: %w", netns, fabricBridge, err)
	}
	return nil
}

// addReferenceNetns makes a namespace with nothing but a veth pair (this
// kernel may lack the dummy driver), so the reference routes have a connected
// next hop on a link with carrier, and a table of their own.
func addReferenceNetns(ctx context.Context) error {
	err := runSteps(ctx, [][]string{
		{"netns", "add", referenceNetns},
		{"-n", referenceNetns, "link", "set", "lo", "up"},
		{"-n", referenceNetns, "link", "add", refLink, "type", "veth", "peer", "name", refLinkPeer},
		{"-n", referenceNetns, "addr", "add", refAddr.String(), "dev", refLink},
		{"-n", referenceNetns, "link", "set", refLinkPeer, "up"},
		{"-n", referenceNetns, "link", "set", refLink, "up"},
	})
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", referenceNetns, err)
	}
	return nil
}

// deleteNetns removes one of the benchmark's namespaces (its veth goes with
// it); a missing one is not an error.
func deleteNetns(ctx context.Context, name string) error {
	if !netnsExists(name) {
		return nil
	}
	if _, err := run(ctx, "ip", "netns", "del", name); err != nil {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	return nil
}
