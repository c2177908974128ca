//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// extraPod is a second pod on a node. The lab keeps one pod per node (in
// lab-pod<N>); this one lives in a namespace of the suite's own, wired by
// the same labcni and conflist the lab uses, so the container runtime's path
// is the same.
type extraPod struct {
	Netns string
	IP    netip.Addr
	node  *lab.Node
}

// createExtraPod creates namespace netns and runs CNI ADD for it from inside
// node's namespace, with the given hostPort mappings. CNI DEL and the
// namespace's removal are registered as cleanup.
func createExtraPod(ctx context.Context, t *testing.T, l *lab.Lab, node *lab.Node, netns string, mappings ...lab.PortMapping) *extraPod {
	t.Helper()
	p := &extraPod{Netns: netns, node: node}
	// A namespace of that name is the leftover of a crashed run of this step.
	if _, err := e2eutil.Run(ctx, "ip", "netns", "pids", netns); err == nil {
		_, _ = p.cni(ctx, l, "del", mappings)
		_, _ = e2eutil.Run(ctx, "ip", "netns", "del", netns)
	}
	e2eutil.MustRun(ctx, t, "ip", "netns", "add", netns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e2eutil.CmdTimeout)
		defer cancel()
		if _, err := p.cni(ctx, l, "del", mappings); err != nil {
			t.Errorf("pod %s: CNI DEL: %v", netns, err)
		}
		if _, err := e2eutil.Run(ctx, "ip", "netns", "del", netns); err != nil {
			t.Errorf("pod %s: %v", netns, err)
		}
	})
	e2eutil.MustRun(ctx, t, "ip", "-n", netns, "link", "set", "lo", "up")
	out, err := p.cni(ctx, l, "add", mappings)
	if err != nil {
		t.Fatalf("pod %s: CNI ADD on %s: %v", netns, node.Name, err)
	}
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.IPs) == 0 {
		t.Fatalf("pod %s: reading the CNI result %q: %v", netns, out, err)
	}
	pfx, err := netip.ParsePrefix(res.IPs[0].Address)
	if err != nil {
		t.Fatalf("pod %s: CNI result address %q: %v", netns, res.IPs[0].Address, err)
	}
	p.IP = pfx.Addr()
	return p
}

// cni runs labcni inside the pod's node namespace, as the lab does for its
// own pods.
func (p *extraPod) cni(ctx context.Context, l *lab.Lab, verb string, mappings []lab.PortMapping) (string, error) {
	args := []string{
		filepath.Join(l.BinDir(), "labcni"), verb,
		"--conf-dir", p.node.ConfDir,
		"--bin-dir", p.node.CNIBinDir,
		"--cache-dir", p.node.CacheDir,
		"--netns", filepath.Join("/var/run/netns", p.Netns),
		"--container-id", p.Netns,
		"--ifname", "eth0",
	}
	for _, m := range mappings {
		args = append(args, "--port-mapping", m.String())
	}
	out, err := e2eutil.Output(ctx, "ip", append([]string{"netns", "exec", p.node.Netns}, args...)...)
	if err != nil {
		return "", fmt.Errorf("labcni %s: %w", verb, err)
	}
	return out, nil
}
