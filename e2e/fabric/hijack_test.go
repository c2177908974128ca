//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// testHijack: the ToR announces a more-specific of node2's pod CIDR and the
// whole cluster CIDR. Every node receives both and installs neither, also
// node2, which accepts other upstream routes; node2's pod stays reachable
// from rack 1.
func testHijack(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	tor := l.ToRs[0]
	node1, node2 := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)
	nodes := upNodes(t, l)
	moreSpecific := netip.PrefixFrom(node2.PodCIDR.Addr(), node2.PodCIDR.Bits()+1)
	hijacks := []netip.Prefix{moreSpecific, lab.ClusterCIDR}
	for _, p := range hijacks {
		e2eutil.LogStep(t, "%s announces %s", tor.Name, p)
		if err := tor.Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tor.Withdraw(cctx, p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	// ToR.Announce blackholes the prefixes in the ToR's own kernel; the ToR's
	// forwarding is not under test here, only what the nodes do with the
	// announcement, so the ToR keeps forwarding node2's pods to node2.
	e2eutil.LogStep(t, "%s: the announcement stays, its blackhole for %s goes", tor.Name, moreSpecific)
	if _, err := e2eutil.Run(ctx, "ip", "-n", tor.Name, "route", "del", "blackhole", moreSpecific.String()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		e2eutil.LogStep(t, "%s received both from %s (gobgp neighbor %s adj-in)", n.Name, tor.Name, torAddr(n))
		e2eutil.Eventually(t, 20*time.Second, 500*time.Millisecond, n.Name+" receives the hijacks", func() error {
			out, err := e2eutil.InNs(ctx, n.Netns, l.Tools.Gobgp, "neighbor", torAddr(n).String(), "adj-in")
			if err != nil {
				return err
			}
			for _, p := range hijacks {
				if !strings.Contains(out, p.String()) {
					return fmt.Errorf("%s adj-in from %s has no %s:\n%s", n.Name, torAddr(n), p, out)
				}
			}
			return nil
		})
	}
	e2eutil.LogStep(t, "no node installs %s or %s (every 250ms for 5s)", moreSpecific, lab.ClusterCIDR)
	checks := 0
	e2eutil.Consistently(t, 5*time.Second, 250*time.Millisecond, "no hijack installed", func() error {
		checks++
		return checkNoneInstalled(ctx, nodes, hijacks...)
	})
	e2eutil.LogStep(t, "checked %d times on %d nodes: neither installed", checks, len(nodes))
	checkPodTalks(ctx, t, node1.Pod, node2.Pod)
}
