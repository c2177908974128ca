//go:build e2e

package status

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/bgp"
)

// floodRoutes is how many routes the leaking ToR sends: /32s from
// 100.64.0.0 up (BGP routes only: the node refuses them, no traffic goes
// there).
const floodRoutes = 200000

func floodPrefixes(n int) []string {
	out := make([]string, n)
	base := netip.MustParseAddr("100.64.0.0").As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16
	for i := range out {
		a := v + uint32(i)
		out[i] = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String() + "/32"
	}
	return out
}

// TestUpstreamFlood: a ToR that leaks a full table to a node whose peer
// entry names no limit. The agents run without --peer-router-max-prefixes,
// so the default applies.
func TestUpstreamFlood(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 10*time.Minute)
	watcher, other := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)

	suite.Step(t, "01 BIRD sending 200,000 routes ends its session at the default prefix limit; the node's other sessions, kernel routes and pod traffic go on", func(t *testing.T) {
		bird := startBIRD(ctx, t, l, watcher, t.TempDir(), floodPrefixes(floodRoutes))
		const key = "nodebgp.io/peers"
		v := fmt.Sprintf(`[{"address":%q,"asn":%d}]`, bird, birdASN)
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e2eutil.Annotate(cctx, l, watcher, key, nil); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		pid := e2eutil.AgentPID(t, l, watcher)
		hwmBefore := vmKiB(t, pid, "VmHWM")
		peer := fmt.Sprintf(`kind="upstream",peer=%q`, bird.String())
		var maxReceived float64
		e2eutil.NoPingLost(t, e2eutil.PingWatch{From: watcher.Pod.Netns, To: other.Pod.IP}, "pods across nodes while BIRD floods "+watcher.Name, func() error {
			if err := e2eutil.Annotate(ctx, l, watcher, key, &v); err != nil {
				return err
			}
			t.Logf("%s %s=%s (no maxPrefixes: the default %d applies)", watcher.Name, key, v, bgp.DefaultUpstreamMaxPrefixes)
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				maxReceived = max(maxReceived, metricLabels(ctx, t, watcher, "nodebgp_bgp_prefixes_received", peer))
				if metricLabels(ctx, t, watcher, "nodebgp_bgp_prefix_limit_exceeded", peer) == 1 {
					return nil
				}
				time.Sleep(250 * time.Millisecond)
			}
			return fmt.Errorf("the session with BIRD was not shut down by its prefix limit within 2 minutes (most prefixes seen %v)", maxReceived)
		})
		t.Logf("%s's agent: peak RSS %d MiB before the flood, %d MiB after the trip (%d MiB now); most prefixes seen from BIRD %v",
			watcher.Name, hwmBefore>>10, vmKiB(t, pid, "VmHWM")>>10, vmKiB(t, pid, "VmRSS")>>10, maxReceived)

		// The count stopped: the session stays down with nothing kept, and
		// the agent is the one that was running.
		e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "BIRD's routes dropped by "+watcher.Name, func() error {
			if n := metricLabels(ctx, t, watcher, "nodebgp_bgp_prefixes_received", peer); n != 0 {
				return fmt.Errorf("%v prefixes from BIRD still held", n)
			}
			return nil
		})
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			if up, limited := metricLabels(ctx, t, watcher, "nodebgp_bgp_session_up", peer), metricLabels(ctx, t, watcher, "nodebgp_bgp_prefix_limit_exceeded", peer); up != 0 || limited != 1 {
				t.Fatalf("after the trip: session_up %v, prefix_limit_exceeded %v; want 0, 1 (held down until the limit changes)", up, limited)
			}
		}
		if got := e2eutil.AgentPID(t, l, watcher); got != pid {
			t.Fatalf("%s's agent was restarted during the flood (PID %d, was %d)", watcher.Name, got, pid)
		}

		// Its other sessions and its kernel routes are untouched.
		for _, n := range l.Nodes {
			if n == watcher {
				continue
			}
			if up := metricLabels(ctx, t, watcher, "nodebgp_bgp_session_up", fmt.Sprintf(`kind="node",peer=%q`, n.IP.String())); up != 1 {
				t.Errorf("%s's session with %s is down after the flood", watcher.Name, n.Name)
			}
			kernelHas(ctx, t, watcher, n.PodCIDR)
			kernelHas(ctx, t, n, watcher.PodCIDR)
		}

		// The Event says which limit tripped and how to raise it.
		cs, err := l.CP.Client()
		if err != nil {
			t.Fatal(err)
		}
		evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + watcher.Name + ",reason=BGPPrefixLimit"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs.Items {
			if strings.Contains(e.Message, bird.String()) && strings.Contains(e.Message, strconv.Itoa(bgp.DefaultUpstreamMaxPrefixes)) && strings.Contains(e.Message, "--peer-router-max-prefixes") {
				found = true
				t.Logf("Event %s: %s", e.Reason, e.Message)
			}
		}
		if !found {
			t.Errorf("no BGPPrefixLimit Event on %s naming %s, the limit %d and the flag that raises it: %d Events", watcher.Name, bird, bgp.DefaultUpstreamMaxPrefixes, len(evs.Items))
		}
	})
}

// kernelHas fails the test unless node's kernel has a route to prefix.
func kernelHas(ctx context.Context, t *testing.T, node *lab.Node, prefix netip.Prefix) {
	t.Helper()
	got, err := e2eutil.KernelRoutes(ctx, node.Netns)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[prefix]; !ok {
		t.Errorf("%s's kernel has no route to %s after the flood", node.Name, prefix)
	}
}

// vmKiB reads a field of /proc/<pid>/status ("VmRSS", "VmHWM") in KiB.
func vmKiB(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, field, err)
			}
			return kib
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}
