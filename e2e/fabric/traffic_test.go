//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// echoPort is where the pods' TCP echo listeners listen.
const echoPort = "8181"

// testCrossRackTraffic: with iBGP off, a pod in rack 1 reaches pods in rack 2
// by ICMP and TCP, routed by the ToR on what the nodes announced to it, with
// no overlay: the node sends the packets to its ToR, and the pod sees the
// other pod's own address.
func testCrossRackTraffic(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	node1 := e2eutil.NodeWithPod(t, l, 1)
	for _, n := range []int{2} {
		target := e2eutil.NodeWithPod(t, l, n)
		e2eutil.LogStep(t, "%s routes %s via its ToR %s", node1.Name, target.Pod.IP, torAddr(node1))
		out, err := e2eutil.Output(ctx, "ip", "-n", node1.Netns, "route", "get", target.Pod.IP.String())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "via "+torAddr(node1).String()+" ") {
			t.Errorf("%s: ip route get %s = %q, want via %s", node1.Name, target.Pod.IP, strings.TrimSpace(out), torAddr(node1))
		}
		checkPodTalks(ctx, t, node1.Pod, target.Pod)
	}
	// The ToR is the only source of the other nodes' pod CIDRs here (iBGP
	// off): each node installs every other node's pod CIDR, and nothing
	// else, via its ToR, or via the other node itself when both are in the
	// same rack (the ToR passes a next hop on the receiver's subnet on
	// unchanged: RFC 4271's third-party next hop). The node with the wrong MD5 password (step 04) never
	// gets a session, so it neither announces nor learns anything.
	wrong := e2eutil.NodeWithPod(t, l, wrongPasswordNode)
	for _, n := range l.Nodes {
		if n == wrong {
			continue
		}
		want := map[netip.Prefix]netip.Addr{}
		for _, other := range l.Nodes {
			switch {
			case other == n || other == wrong:
			case other.Rack == n.Rack:
				want[other.PodCIDR] = other.IP
			default:
				want[other.PodCIDR] = torAddr(n)
			}
		}
		e2eutil.LogStep(t, "%s installs the other nodes' pod CIDRs (protocol %s): %v", n.Name, e2eutil.RouteProto, want)
		e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, n.Name+" kernel routes", func() error {
			got, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				return err
			}
			if !maps.Equal(got.Vias(), want) {
				return fmt.Errorf("%s: routes of protocol %s = %v, want %v", n.Name, e2eutil.RouteProto, got, want)
			}
			return nil
		})
	}
}

// checkPodTalks: from pings to and holds a TCP conversation with to, which
// sees from's own pod IP.
func checkPodTalks(ctx context.Context, t *testing.T, from, to *lab.Pod) {
	t.Helper()
	e2eutil.LogStep(t, "ping %s (%s) from %s (%s)", to.IP, to.Netns, from.IP, from.Netns)
	e2eutil.Eventually(t, 15*time.Second, time.Second, "ping "+to.Netns, func() error {
		return e2eutil.Ping(ctx, from.Netns, to.IP, 3)
	})
	e2eutil.CheckPodTCP(ctx, t, from, to, echoPort)
}
