//go:build e2e

package dualstack

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// TestDualStack walks through the promises of a dual-stack cluster in order;
// a later step relies on the earlier ones.
func TestDualStack(t *testing.T) {
	l := suite.Lab(t)
	n1, n2 := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)
	t.Logf("nodes: %s %s/%s, %s %s/%s; pods %s/%s and %s/%s",
		n1.Name, n1.IP, n1.IP6, n2.Name, n2.IP, n2.IP6, n1.Pod.IP, n1.Pod.IP6, n2.Pod.IP, n2.Pod.IP6)

	suite.Step(t, "pods have an address of each family", func(t *testing.T) {
		for _, node := range l.Nodes {
			if !node.PodCIDR.Contains(node.Pod.IP) || !node.PodCIDR6.Contains(node.Pod.IP6) {
				t.Errorf("%s: pod addresses %s and %s, want one in %s and one in %s",
					node.Name, node.Pod.IP, node.Pod.IP6, node.PodCIDR, node.PodCIDR6)
			}
		}
	})

	suite.Step(t, "every node pair has an IPv4 and an IPv6 session, both established", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		took := e2eutil.Eventually(t, 90*time.Second, time.Second, "IPv4 and IPv6 sessions established", func() error {
			st, err := l.Status(ctx)
			if err != nil {
				return err
			}
			for _, s := range st {
				for _, other := range l.Nodes {
					if other.Name == s.Name {
						continue
					}
					for _, want := range []netip.Addr{other.IP, other.IP6} {
						if !established(s.Neighbors, want) {
							return fmt.Errorf("%s: no established session with %s (%s); neighbors %v", s.Name, other.Name, want, s.Neighbors)
						}
					}
				}
			}
			return nil
		})
		t.Logf("both families' sessions established within %s", took.Round(time.Millisecond))
	})

	suite.Step(t, "each node routes the others' IPv6 pod CIDRs via their IPv6 node IPs, proto 78", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		e2eutil.Eventually(t, 60*time.Second, time.Second, "IPv6 kernel routes", func() error {
			for _, node := range l.Nodes {
				routes, err := e2eutil.KernelRoutes(ctx, node.Netns)
				if err != nil {
					return err
				}
				for _, other := range l.Nodes {
					if other == node {
						continue
					}
					if r, ok := routes[other.PodCIDR6]; !ok || !r.Is(other.IP6) {
						return fmt.Errorf("%s: no route of proto %s to %s via %s:\n%s", node.Name, e2eutil.RouteProto, other.PodCIDR6, other.IP6, routes)
					}
				}
			}
			return nil
		})
		for _, node := range l.Nodes {
			routes, _ := e2eutil.KernelRoutes(ctx, node.Netns)
			t.Logf("%s: routes of proto %s:\n%s", node.Name, e2eutil.RouteProto, routes)
		}
	})

	suite.Step(t, "IPv6 ping and TCP from the pod on node1 to the pod on node2", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		took := e2eutil.Eventually(t, 30*time.Second, time.Second, "IPv6 ping pod1 -> pod2", func() error {
			return e2eutil.Ping(ctx, n1.Pod.Netns, n2.Pod.IP6, 5)
		})
		t.Logf("5/5 IPv6 pings %s -> %s answered (ready after %s)", n1.Pod.IP6, n2.Pod.IP6, took.Round(time.Millisecond))
		e2eutil.CheckPodTCPAddrs(ctx, t, n1.Pod, n2.Pod, n1.Pod.IP6, n2.Pod.IP6, "8080")
	})

	suite.Step(t, "IPv4 still works in the same lab", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		e2eutil.Eventually(t, 30*time.Second, time.Second, "IPv4 ping pod1 -> pod2", func() error {
			return e2eutil.Ping(ctx, n1.Pod.Netns, n2.Pod.IP, 5)
		})
		t.Logf("5/5 IPv4 pings %s -> %s answered", n1.Pod.IP, n2.Pod.IP)
		e2eutil.CheckPodTCPAddrs(ctx, t, n1.Pod, n2.Pod, n1.Pod.IP, n2.Pod.IP, "8080")
		for _, node := range l.Nodes {
			routes, err := e2eutil.KernelRoutes(ctx, node.Netns)
			if err != nil {
				t.Fatal(err)
			}
			for _, other := range l.Nodes {
				if r, ok := routes[other.PodCIDR]; other != node && (!ok || !r.Is(other.IP)) {
					t.Errorf("%s: no route of proto %s to %s via %s:\n%s", node.Name, e2eutil.RouteProto, other.PodCIDR, other.IP, routes)
				}
			}
		}
	})
}

// established tells whether neighbors has an established session with addr.
func established(neighbors []lab.Neighbor, addr netip.Addr) bool {
	for _, n := range neighbors {
		if n.Address == addr && n.Established() {
			return true
		}
	}
	return false
}
