//go:build e2e

package dualstackracks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// TestDualStackRacks walks through dual-stack routing across racks in order;
// a later step relies on the earlier ones.
func TestDualStackRacks(t *testing.T) {
	l := suite.Lab(t)
	n1, n2 := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)
	tor := l.ToRs[0]
	t.Logf("%s (rack %d) %s/%s pod %s/%s; %s (rack %d) %s/%s pod %s/%s; ToR %s %v %v",
		n1.Name, n1.Rack, n1.IP, n1.IP6, n1.Pod.IP, n1.Pod.IP6,
		n2.Name, n2.Rack, n2.IP, n2.IP6, n2.Pod.IP, n2.Pod.IP6, tor.Name, tor.Addrs, tor.Addrs6)
	if n1.Rack == n2.Rack {
		t.Fatalf("%s and %s share rack %d; the suite needs them apart", n1.Name, n2.Name, n1.Rack)
	}

	suite.Step(t, "01 every node has an IPv4 and an IPv6 session with its ToR", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		took := e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "both sessions established", func() error {
			return checkSessions(ctx, l)
		})
		nbs, err := tor.Neighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range nbs {
			t.Logf("ToR neighbor %s AS %d %s", nb.Address, nb.RemoteAS, nb.State)
		}
		t.Logf("established within %s", took.Round(time.Millisecond))
	})

	suite.Step(t, "02 the ToR's IPv6 table has each node's IPv6 pod CIDR via its IPv6 address and AS", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "IPv6 pod CIDRs on the ToR", func() error {
			for _, n := range l.Nodes {
				p, err := torPath6(ctx, l, n)
				if err != nil {
					return err
				}
				if !slices.Equal(p.ASPath, []uint32{nodeASN(n.Number)}) {
					return fmt.Errorf("%s: AS path %v, want [%d]", n.PodCIDR6, p.ASPath, nodeASN(n.Number))
				}
			}
			return nil
		})
		table, _ := tor.BGPTable6(ctx)
		for _, n := range l.Nodes {
			t.Logf("ToR: %s paths %+v", n.PodCIDR6, table[n.PodCIDR6])
		}
		// The IPv4 table keeps only IPv4: no IPv6 session carries IPv4.
		table4, err := tor.BGPTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range l.Nodes {
			for _, p := range table4[n.PodCIDR] {
				if slices.Contains(p.NextHops, n.IP6) {
					t.Errorf("ToR: %s learned over the IPv6 session %+v", n.PodCIDR, p)
				}
			}
		}
	})

	suite.Step(t, "03 each node routes the other rack's IPv6 pod CIDR via its ToR, proto 78", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "IPv6 kernel routes via the ToR", func() error {
			for _, node := range l.Nodes {
				routes, err := e2eutil.KernelRoutes(ctx, node.Netns)
				if err != nil {
					return err
				}
				for _, other := range l.Nodes {
					if other == node {
						continue
					}
					via := lab.ToRAddr6(1, node.Rack)
					if r, ok := routes[other.PodCIDR6]; !ok || !r.Is(via) {
						return fmt.Errorf("%s: no route of proto %s to %s via %s:\n%s", node.Name, e2eutil.RouteProto, other.PodCIDR6, via, routes)
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

	suite.Step(t, "04 IPv6 and IPv4 ping and TCP between pods in different racks", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 2*time.Minute)
		for _, dst := range []netip.Addr{n2.Pod.IP6, n2.Pod.IP} {
			took := e2eutil.Eventually(t, 30*time.Second, time.Second, "ping pod1 -> "+dst.String(), func() error {
				return e2eutil.Ping(ctx, n1.Pod.Netns, dst, 5)
			})
			t.Logf("5/5 pings %s -> %s answered (ready after %s)", n1.Pod.Netns, dst, took.Round(time.Millisecond))
		}
		e2eutil.CheckPodTCPAddrs(ctx, t, n1.Pod, n2.Pod, n1.Pod.IP6, n2.Pod.IP6, "8080")
		e2eutil.CheckPodTCPAddrs(ctx, t, n1.Pod, n2.Pod, n1.Pod.IP, n2.Pod.IP, "8080")
	})

	suite.Step(t, "05 agent restart: the ToR keeps the node's IPv6 route and both sessions are back in seconds", func(t *testing.T) {
		ctx := e2eutil.TestContext(t, 3*time.Minute)
		t.Cleanup(func() {
			if !l.Agents.Running(n1) {
				if err := l.Agents.Start(n1); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		})
		var polls, misses atomic.Int64
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for watchCtx.Err() == nil {
				if _, err := torPath6(watchCtx, l, n1); err != nil && watchCtx.Err() == nil {
					misses.Add(1)
				}
				polls.Add(1)
				select {
				case <-watchCtx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
		t.Cleanup(func() { stopWatch(); <-watched })
		var back time.Duration
		watch := e2eutil.PingWatch{From: n2.Pod.Netns, To: n1.Pod.IP6, MaxRun: 90 * time.Second}
		_, took := e2eutil.NoPingLost(t, watch, n1.Name+"'s agent restart (IPv6 pings)", func() error {
			e2eutil.LogStep(t, "%s's agent: SIGTERM, 2s, start", n1.Name)
			if err := l.Agents.Stop(n1); err != nil {
				return err
			}
			time.Sleep(2 * time.Second) // the agent stays down this long: part of what is tested
			if err := l.Agents.Start(n1); err != nil {
				return err
			}
			var err error
			back, err = e2eutil.WaitFor(60*time.Second, 200*time.Millisecond, "both sessions back", func() error {
				return checkSessions(ctx, l)
			})
			return err
		})
		stopWatch()
		<-watched
		e2eutil.LogStep(t, "sessions back %s after the start (%s after SIGTERM); ToR polls %d, %s missing %d",
			back.Round(100*time.Millisecond), took.Round(100*time.Millisecond), polls.Load(), n1.PodCIDR6, misses.Load())
		if misses.Load() > 0 {
			t.Errorf("the ToR lost %s in %d of %d polls during the agent restart", n1.PodCIDR6, misses.Load(), polls.Load())
		}
		if back > 15*time.Second {
			t.Errorf("sessions back %s after the start, want within 15s", back)
		}
	})
}

// checkSessions fails unless every node has established sessions with both
// of its ToR's addresses.
func checkSessions(ctx context.Context, l *lab.Lab) error {
	st, err := l.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range st {
		node := l.NodeByName(s.Name)
		if node == nil {
			continue
		}
		for _, want := range torAddrs(node) {
			ok := slices.ContainsFunc(s.Neighbors, func(n lab.Neighbor) bool { return n.Address == want && n.Established() })
			if !ok {
				return fmt.Errorf("%s: no established session with %s; neighbors %v", s.Name, want, s.Neighbors)
			}
		}
	}
	return nil
}

// torPath6 is the ToR's best path for node's IPv6 pod CIDR, which must come
// from node's IPv6 address.
func torPath6(ctx context.Context, l *lab.Lab, node *lab.Node) (lab.ToRPath, error) {
	table, err := l.ToRs[0].BGPTable6(ctx)
	if err != nil {
		return lab.ToRPath{}, err
	}
	paths := table[node.PodCIDR6]
	for _, p := range paths {
		if p.Best && slices.Contains(p.NextHops, node.IP6) {
			return p, nil
		}
	}
	return lab.ToRPath{}, fmt.Errorf("the ToR's IPv6 table: %s has no best path via %s (%s); paths %+v", node.PodCIDR6, node.IP6, node.Name, paths)
}
