//go:build e2e

package services

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testClusterPolicy: a ClusterIP, an ExternalIP and a LoadBalancer Service
// with the Cluster policies are announced by every node: the ToR has each
// address with ECMP over the three, and the community node's path carries
// its community.
func testClusterPolicy(t *testing.T) {
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	l := suite.Lab(t)
	all := nodeIPs(l.Nodes...)

	web := create(ctx, t, service("web", corev1.ServiceTypeClusterIP))
	ext := service("ext", corev1.ServiceTypeClusterIP)
	ext.Spec.ExternalIPs = []string{"198.51.100.20"}
	create(ctx, t, ext)
	create(ctx, t, service("lb", corev1.ServiceTypeLoadBalancer), "198.51.100.30")

	for _, ip := range []string{web.Spec.ClusterIP, "198.51.100.20", "198.51.100.30"} {
		took := waitToR(ctx, t, hostRoute(ip), all, announceWait)
		t.Logf("%s at the ToR over %v after %s", hostRoute(ip), all, took.Round(time.Millisecond))
	}
	_, paths, err := torNextHops(ctx, tor(t), hostRoute("198.51.100.30"))
	if err != nil {
		t.Fatal(err)
	}
	community := l.Nodes[communityNode-1].IP
	for _, p := range paths {
		has := slices.Contains(p.Communities, nodeCommunity)
		if (p.From == community) != has {
			t.Errorf("path from %s: communities %v; want %s on %s's path only", p.From, p.Communities, nodeCommunity, community)
		}
		if len(p.ASPath) != 1 || p.ASPath[0] != 64512 {
			t.Errorf("path from %s: AS path %v, want [64512]", p.From, p.ASPath)
		}
	}
}

// testLocalPolicy: externalTrafficPolicy Local announces the LB address
// only from the nodes with a ready endpoint: it follows the endpoints,
// leaves a node whose endpoint terminates, and goes with the last one.
// Then the time from an endpoint turning ready to the ToR routing to its
// node, over several tries.
func testLocalPolicy(t *testing.T) {
	ctx := e2eutil.TestContext(t, 5*time.Minute)
	l := suite.Lab(t)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	lbIP := "198.51.100.40"
	svc := service("local", corev1.ServiceTypeLoadBalancer)
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	got := create(ctx, t, svc, lbIP)
	lb := hostRoute(lbIP)

	// Its ClusterIP (internal policy Cluster) shows the agents have seen
	// the Service; its LB address waits for endpoints.
	waitToR(ctx, t, hostRoute(got.Spec.ClusterIP), nodeIPs(l.Nodes...), announceWait)
	if hops, _, err := torNextHops(ctx, tor(t), lb); err != nil || len(hops) != 0 {
		t.Fatalf("%s without endpoints: ToR next hops %v (%v), want none", lb, hops, err)
	}

	e2eutil.LogStep(t, "endpoint ready on %s", n2.Name)
	setEndpoints(ctx, t, "local", readyOn(n2))
	waitToR(ctx, t, lb, nodeIPs(n2), announceWait)

	e2eutil.LogStep(t, "endpoints ready on %s and %s", n2.Name, n3.Name)
	setEndpoints(ctx, t, "local", readyOn(n2), readyOn(n3))
	waitToR(ctx, t, lb, nodeIPs(n2, n3), announceWait)

	e2eutil.LogStep(t, "%s's endpoint terminates (serving, not ready): withdrawn there before it goes", n3.Name)
	setEndpoints(ctx, t, "local", readyOn(n2), endpoint{node: n3, serving: true, terminating: true})
	took := waitToR(ctx, t, lb, nodeIPs(n2), announceWait)
	t.Logf("terminating endpoint on %s -> %s withdrawn from it at the ToR: %s", n3.Name, lb, took.Round(time.Millisecond))

	e2eutil.LogStep(t, "%s's endpoint not ready; the endpoint moves to %s", n2.Name, n1.Name)
	setEndpoints(ctx, t, "local", endpoint{node: n2}, readyOn(n1))
	waitToR(ctx, t, lb, nodeIPs(n1), announceWait)

	e2eutil.LogStep(t, "scaled to zero")
	setEndpoints(ctx, t, "local")
	took = waitToR(ctx, t, lb, nil, announceWait)
	t.Logf("scaled to zero -> %s withdrawn at the ToR: %s", lb, took.Round(time.Millisecond))

	const tries = 7
	var lat []time.Duration
	for i := 0; i < tries; i++ {
		n := l.Nodes[i%len(l.Nodes)]
		start := time.Now()
		setEndpoints(ctx, t, "local", readyOn(n))
		waitToR(ctx, t, lb, nodeIPs(n), announceWait)
		lat = append(lat, time.Since(start))
		setEndpoints(ctx, t, "local")
		waitToR(ctx, t, lb, nil, announceWait)
	}
	var ms []string
	for _, d := range lat {
		ms = append(ms, d.Round(time.Millisecond).String())
	}
	fmt.Printf("services: endpoint ready -> announced at the ToR: p50 %s over %d tries (%s); API write to the ToR's RIB, read with vtysh every %s\n",
		p50(lat).Round(time.Millisecond), tries, strings.Join(ms, " "), pollEvery)
}

// testDelete: a deleted Service's address leaves the ToR; the time is
// printed, not asserted.
func testDelete(t *testing.T) {
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	l := suite.Lab(t)
	svc := service("gone", corev1.ServiceTypeClusterIP)
	svc.Spec.ExternalIPs = []string{"198.51.100.50"}
	create(ctx, t, svc)
	route := hostRoute("198.51.100.50")
	waitToR(ctx, t, route, nodeIPs(l.Nodes...), announceWait)

	start := time.Now()
	if err := client(t).CoreV1().Services(ns).Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitToR(ctx, t, route, nil, announceWait)
	fmt.Printf("services: Service deleted -> %s withdrawn at the ToR by all %d nodes: %s\n", route, len(l.Nodes), time.Since(start).Round(time.Millisecond))
}

// testImportFilter: every node takes the ToR's routes
// (--accept-upstream-routes), yet not a Service route the ToR announces,
// nor one from a node peer: none becomes a kernel route. A control prefix
// from the ToR does, so the check reads a table that takes upstream routes.
func testImportFilter(t *testing.T) {
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	l := suite.Lab(t)
	got := create(ctx, t, service("filtered", corev1.ServiceTypeLoadBalancer), "198.51.100.60")
	lb, cip := hostRoute("198.51.100.60"), hostRoute(got.Spec.ClusterIP)
	control := netip.MustParsePrefix("203.0.113.0/24")
	waitToR(ctx, t, lb, nodeIPs(l.Nodes...), announceWait)

	e2eutil.LogStep(t, "the ToR announces %s, %s and the control %s", lb, cip, control)
	for _, p := range []netip.Prefix{lb, cip, control} {
		p := p
		if err := tor(t).Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tor(t).Withdraw(ctx, p); err != nil {
				t.Errorf("ToR: withdrawing %s: %v", p, err)
			}
		})
	}
	for _, n := range l.Nodes {
		e2eutil.Eventually(t, announceWait, 100*time.Millisecond, n.Name+" installs the ToR's control route", func() error {
			rs, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				return err
			}
			if r, ok := rs[control]; !ok || !r.Is(torAddr()) {
				return fmt.Errorf("routes %v", rs)
			}
			return nil
		})
	}
	for _, n := range l.Nodes {
		rs, err := e2eutil.KernelRoutes(ctx, n.Netns)
		if err != nil {
			t.Fatal(err)
		}
		for p, r := range rs {
			if p.Bits() == 32 && (netip.MustParsePrefix("198.51.100.0/24").Contains(p.Addr()) || netip.MustParsePrefix("10.96.0.0/16").Contains(p.Addr())) {
				t.Errorf("%s: kernel route to Service address %s %s", n.Name, p, r)
			}
		}
		// What each node peer sent this node, before import policy.
		for _, peer := range l.Nodes {
			if peer == n {
				continue
			}
			out, err := e2eutil.InNs(ctx, n.Netns, l.Tools.Gobgp, "neighbor", peer.IP.String(), "adj-in")
			if err != nil {
				t.Fatalf("%s: gobgp neighbor %s adj-in: %v", n.Name, peer.IP, err)
			}
			if !strings.Contains(out, peer.PodCIDR.String()) {
				t.Fatalf("%s: adj-in from %s lacks its pod CIDR %s: %s", n.Name, peer.Name, peer.PodCIDR, out)
			}
			if strings.Contains(out, lb.Addr().String()) || strings.Contains(out, cip.Addr().String()+"/32") {
				t.Errorf("%s: node peer %s sent a Service route: %s", n.Name, peer.Name, out)
			}
		}
	}
	t.Logf("no node has a kernel route to %s or %s; each has %s via the ToR; no node peer sent a Service route", lb, cip, control)
}

// testAnnotationFalse: nodebgp.io/advertise "false" withholds a Service
// whatever the switches; removing it announces the Service.
func testAnnotationFalse(t *testing.T) {
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	l := suite.Lab(t)
	withheld := service("withheld", corev1.ServiceTypeLoadBalancer)
	withheld.Annotations = map[string]string{"nodebgp.io/advertise": "false"}
	w := create(ctx, t, withheld, "198.51.100.70")
	// Created after it: once this one is at the ToR, the agents have seen both.
	create(ctx, t, service("shown", corev1.ServiceTypeLoadBalancer), "198.51.100.71")
	waitToR(ctx, t, hostRoute("198.51.100.71"), nodeIPs(l.Nodes...), announceWait)
	for _, ip := range []string{"198.51.100.70", w.Spec.ClusterIP} {
		if hops, _, err := torNextHops(ctx, tor(t), hostRoute(ip)); err != nil || len(hops) != 0 {
			t.Errorf("withheld %s: ToR next hops %v (%v), want none", ip, hops, err)
		}
	}
	patch := []byte(`{"metadata":{"annotations":{"nodebgp.io/advertise":null}}}`)
	if _, err := client(t).CoreV1().Services(ns).Patch(ctx, "withheld", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitToR(ctx, t, hostRoute("198.51.100.70"), nodeIPs(l.Nodes...), announceWait)
}

// testMalformed: a Service whose annotation cannot be read gets a Warning
// Event naming it and the field, is not announced, and the other Services
// stay announced.
func testMalformed(t *testing.T) {
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	l := suite.Lab(t)
	create(ctx, t, service("good", corev1.ServiceTypeLoadBalancer), "198.51.100.80")
	waitToR(ctx, t, hostRoute("198.51.100.80"), nodeIPs(l.Nodes...), announceWait)

	bad := service("bad", corev1.ServiceTypeLoadBalancer)
	bad.Annotations = map[string]string{"nodebgp.io/advertise": "cluster-ip,bogus"}
	create(ctx, t, bad, "198.51.100.81")
	var msg string
	e2eutil.Eventually(t, announceWait, 200*time.Millisecond, "a Warning Event on Service bad", func() error {
		evs, err := client(t).CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Service,involvedObject.name=bad"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "InvalidServiceAdvertisement" && e.Type == corev1.EventTypeWarning {
				msg = fmt.Sprintf("%s (from %s, count %d)", e.Message, e.Source.Host, e.Count)
				if !strings.Contains(e.Message, "annotation nodebgp.io/advertise[1]") || !strings.Contains(e.Message, "default/bad") {
					return fmt.Errorf("event does not name the Service and field: %s", e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("%d events, none InvalidServiceAdvertisement", len(evs.Items))
	})
	t.Logf("Event on Service bad: %s", msg)
	e2eutil.Consistently(t, 2*time.Second, 200*time.Millisecond, "the good Service stays announced by every node, the bad one not at all", func() error {
		if hops, _, err := torNextHops(ctx, tor(t), hostRoute("198.51.100.80")); err != nil || !slices.Equal(hops, nodeIPs(l.Nodes...)) {
			return fmt.Errorf("good: next hops %v (%v)", hops, err)
		}
		if hops, _, err := torNextHops(ctx, tor(t), hostRoute("198.51.100.81")); err != nil || len(hops) != 0 {
			return fmt.Errorf("bad: next hops %v (%v)", hops, err)
		}
		return nil
	})
}
