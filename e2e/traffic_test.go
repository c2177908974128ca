//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	echoPort      = "7000"
	hostPort      = 8080
	containerPort = 80
	hostPortPod   = "lab-hostport2" // the suite's extra pod on lab-node2
)

// testPodTraffic: the pod on node1 pings the pods on node2 and node3 and
// holds a TCP conversation with each, and its packets arrive with its own
// address (pod-to-pod traffic inside the cluster CIDR is not masqueraded).
func testPodTraffic(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	pod1 := podOf(t, nodeNumbered(t, l, 1))

	for _, n := range []int{2, 3} {
		target := podOf(t, nodeNumbered(t, l, n))

		e2eutil.LogStep(t, "ping %s (%s) from %s (%s)", target.IP, target.Netns, pod1.IP, pod1.Netns)
		e2eutil.Eventually(t, 15*time.Second, time.Second, "ping "+target.Netns, func() error {
			return e2eutil.Ping(ctx, pod1.Netns, target.IP, 3)
		})

		e2eutil.CheckPodTCP(ctx, t, pod1, target, echoPort)
	}
}

// testHostPort: a pod on node2 with hostPort 8080 -> containerPort 80 (the
// portmap plugin in the agent's conflist) is reached from a pod and from the
// host of another node through node2's IP.
func testHostPort(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	node1, node2 := nodeNumbered(t, l, 1), nodeNumbered(t, l, 2)
	pod1 := podOf(t, node1)

	mapping := lab.PortMapping{HostPort: hostPort, ContainerPort: containerPort, Protocol: "tcp"}
	e2eutil.LogStep(t, "create pod %s on %s with port mapping %s", hostPortPod, node2.Name, mapping)
	pod := createExtraPod(ctx, t, l, node2, hostPortPod, mapping)
	if !node2.PodCIDR.Contains(pod.IP) {
		t.Fatalf("pod %s got %s, outside %s's pod CIDR %s", pod.Netns, pod.IP, node2.Name, node2.PodCIDR)
	}
	t.Logf("%s has %s", pod.Netns, pod.IP)

	e2eutil.LogStep(t, "a listener in %s on :%d", pod.Netns, containerPort)
	srv, err := e2eutil.StartEcho(pod.Netns, fmt.Sprintf(":%d", containerPort), pod.Netns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // before the pod's own cleanup: cleanups run last-in first-out

	target := net.JoinHostPort(node2.IP.String(), fmt.Sprint(hostPort))
	for _, from := range []string{pod1.Netns, node1.Netns} {
		e2eutil.LogStep(t, "from %s, connect to %s's hostPort %s: %s answers", from, node2.Name, target, pod.Netns)
		line := "hostPort from " + from
		e2eutil.Eventually(t, 15*time.Second, time.Second, "hostPort "+target+" from "+from, func() error {
			got, err := e2eutil.Echo(ctx, from, target, line)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(got, pod.Netns+" from ") || !strings.HasSuffix(got, ": "+line) {
				return fmt.Errorf("reply %q, want %q from <client>: %q", got, pod.Netns, line)
			}
			t.Logf("reply: %q", got)
			return nil
		})
	}
}
