//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	gobgpAPIPort = "50051"
	healthAddr   = "127.0.0.1:9779"
)

// testGoBGPCLI: the stock gobgp CLI, run on a node (in its namespace), talks
// to that node's agent: its neighbors are the other nodes, Established, and
// its RIB holds their pod CIDRs.
func testGoBGPCLI(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	for _, node := range l.Nodes {
		e2eutil.LogStep(t, "ip netns exec %s gobgp neighbor: every other node is Establ", node.Name)
		var out string
		e2eutil.Eventually(t, 30*time.Second, time.Second, node.Name+": gobgp neighbor", func() error {
			var err error
			if out, err = e2eutil.InNs(ctx, node.Netns, l.Tools.Gobgp, "neighbor"); err != nil {
				return err
			}
			return cliPeersEstablished(out, without(l.Nodes, node))
		})
		t.Logf("%s: gobgp neighbor\n%s", node.Name, out)

		e2eutil.LogStep(t, "ip netns exec %s gobgp global rib: the other nodes' pod CIDRs", node.Name)
		rib, err := e2eutil.InNs(ctx, node.Netns, l.Tools.Gobgp, "global", "rib")
		if err != nil {
			t.Fatal(err)
		}
		for _, peer := range without(l.Nodes, node) {
			if !strings.Contains(rib, peer.PodCIDR.String()) {
				t.Errorf("%s: gobgp global rib has no %s:\n%s", node.Name, peer.PodCIDR, rib)
			}
		}
	}
}

// testGoBGPCLIIsReadOnly: the same CLI cannot change the speaker. `gobgp
// global rib add` on node1 is refused with a message naming the flag that
// would allow it, and no node's RIB gets the prefix: a hostNetwork pod, which
// shares the node's loopback, cannot announce a route to the fabric.
func testGoBGPCLIIsReadOnly(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	node1 := nodeNumbered(t, l, 1)
	const hijack = "203.0.113.0/24"
	e2eutil.LogStep(t, "ip netns exec %s gobgp global rib add %s: refused", node1.Name, hijack)
	out, err := e2eutil.InNs(ctx, node1.Netns, l.Tools.Gobgp, "global", "rib", "add", hijack)
	if err == nil || !strings.Contains(out+err.Error(), "--gobgp-api-allow-writes") {
		t.Fatalf("gobgp global rib add: err %v, output %q; want a refusal naming --gobgp-api-allow-writes", err, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(out+" "+err.Error()))
	e2eutil.Consistently(t, 2*time.Second, 500*time.Millisecond, "no RIB has "+hijack, func() error {
		for _, node := range l.Nodes {
			rib, err := e2eutil.InNs(ctx, node.Netns, l.Tools.Gobgp, "global", "rib")
			if err != nil {
				return err
			}
			if strings.Contains(rib, hijack) {
				return fmt.Errorf("%s: gobgp global rib has %s:\n%s", node.Name, hijack, rib)
			}
		}
		return nil
	})
}

// cliPeersEstablished reads `gobgp neighbor`'s table (Peer AS Up/Down State
// ...) and wants a row in state "Establ" for every peer.
func cliPeersEstablished(out string, peers []*lab.Node) error {
	state := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 4 {
			state[f[0]] = f[3]
		}
	}
	var problems []string
	for _, p := range peers {
		if s := state[p.IP.String()]; s != "Establ" {
			problems = append(problems, fmt.Sprintf("%s (%s) state %q", p.IP, p.Name, s))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("gobgp neighbor: %s:\n%s", strings.Join(problems, "; "), out)
	}
	return nil
}

// testGoBGPAPIIsLocal: the gRPC API listens on each node's loopback only. It
// answers inside the node; from another node, from a pod, and from the root
// namespace's loopback, no agent answers.
func testGoBGPAPIIsLocal(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	local := net.JoinHostPort("127.0.0.1", gobgpAPIPort)

	for _, node := range l.Nodes {
		e2eutil.LogStep(t, "inside %s, %s accepts connections (the control for the checks below)", node.Name, local)
		conn, err := e2eutil.DialIn(ctx, node.Netns, local, 3*time.Second)
		if err != nil {
			t.Fatalf("the API does not answer inside its own node: %v", err)
		}
		conn.Close()
	}

	for _, from := range l.Nodes {
		for _, to := range without(l.Nodes, from) {
			addr := net.JoinHostPort(to.IP.String(), gobgpAPIPort)
			e2eutil.LogStep(t, "from %s, connect to %s's %s: refused", from.Name, to.Name, addr)
			mustNotConnect(ctx, t, from.Netns, addr)
		}
	}

	node1 := nodeNumbered(t, l, 1)
	pod1 := podOf(t, node1)
	gateway := node1.PodCIDR.Addr().Next() // the bridge's address, the pod's gateway
	for _, ip := range []string{gateway.String(), node1.IP.String()} {
		addr := net.JoinHostPort(ip, gobgpAPIPort)
		e2eutil.LogStep(t, "from %s, connect to its own node's %s: refused", pod1.Netns, addr)
		mustNotConnect(ctx, t, pod1.Netns, addr)
	}

	e2eutil.LogStep(t, "in the root namespace, %s is not one of our agents", local)
	conn, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", local)
	if err != nil {
		t.Logf("nothing listens on the root namespace's %s (%v)", local, err)
		return
	}
	conn.Close()
	// Something of the host's own listens there; it must not be a lab agent.
	out, _ := e2eutil.Run(ctx, l.Tools.Gobgp, "neighbor")
	for _, n := range l.Nodes {
		if strings.Contains(out, n.IP.String()) {
			t.Fatalf("the root namespace's %s answers with a lab agent's neighbors:\n%s", local, out)
		}
	}
	t.Logf("something of the host listens on the root namespace's %s, but it is not a lab agent", local)
}

// mustNotConnect fails the test when a TCP connection from ns to addr succeeds.
func mustNotConnect(ctx context.Context, t *testing.T, ns, addr string) {
	t.Helper()
	conn, err := e2eutil.DialIn(ctx, ns, addr, 3*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("from %s, %s accepted a connection: the gobgp API must only listen on the node's loopback", ns, addr)
	}
	t.Logf("from %s, %s: %v", ns, addr, err)
}

// testHealth: /healthz, /readyz and /metrics answer on each node's health
// address, inside the node's namespace.
func testHealth(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	for _, node := range l.Nodes {
		for _, path := range []string{"/healthz", "/readyz"} {
			url := "http://" + healthAddr + path
			e2eutil.LogStep(t, "inside %s, GET %s: 200", node.Name, url)
			e2eutil.Eventually(t, 20*time.Second, time.Second, node.Name+" "+path, func() error {
				code, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, url)
				if err != nil {
					return err
				}
				if code != 200 {
					return fmt.Errorf("GET %s: %d\n%s", url, code, body)
				}
				return nil
			})
		}

		url := "http://" + healthAddr + "/metrics"
		want := fmt.Sprintf("nodebgp_kernel_routes %d", len(l.Nodes)-1)
		e2eutil.LogStep(t, "inside %s, GET %s: 200 with nodebgp_ready 1 and %q", node.Name, url, want)
		e2eutil.Eventually(t, 20*time.Second, time.Second, node.Name+" /metrics", func() error {
			code, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, url)
			if err != nil {
				return err
			}
			if code != 200 {
				return fmt.Errorf("GET %s: %d", url, code)
			}
			for _, line := range []string{"nodebgp_ready 1", want} {
				if !hasLine(body, line) {
					return fmt.Errorf("GET %s: no line %q in:\n%s", url, line, nodebgpLines(body))
				}
			}
			return nil
		})
	}
}

func hasLine(body, line string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// nodebgpLines keeps our own metrics of a /metrics body, for messages.
func nodebgpLines(body string) string {
	var keep []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "nodebgp_") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
