//go:build e2e

package reflectors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	// withoutPasswordNode is the client step 05 restarts without the mesh
	// password.
	withoutPasswordNode = 4
	// unsignedWindow is how long that client must stay without a session.
	unsignedWindow = 20 * time.Second
	// backTimeout bounds the wait for its signed sessions once the password
	// is back.
	backTimeout = 60 * time.Second
)

// testPasswordRequired: a client whose agent restarts without
// --mesh-password-secret configures the reflectors as neighbors but gets no
// session with them for unsignedWindow: its kernel drops the reflectors'
// signed connection attempts (TcpExtTCPMD5Unexpected rises), while every
// other session stays Established. Restarted with the flag again, its
// signed sessions come back and its pod reaches, and is reached by, every
// other pod. Prints how long each part took.
func testPasswordRequired(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	n := e2eutil.NodeWithPod(t, l, withoutPasswordNode)
	reflectors := expectedPeers(n.Number)
	t.Cleanup(func() { restoreMeshPassword(t, l, n) })

	e2eutil.LogStep(t, "%s: restart the agent without --mesh-password-secret", n.Name)
	unsignedNode = n.Number
	restartAgent(t, l, n)
	start := time.Now()

	e2eutil.LogStep(t, "%s: the agent has the reflectors %v as neighbors and its listener holds no TCP-MD5 key", n.Name, reflectors)
	took := e2eutil.Eventually(t, 30*time.Second, time.Second, n.Name+" neighbors configured without a password", func() error {
		return checkUnsignedConfigured(ctx, l, n)
	})
	e2eutil.LogStep(t, "%s: configured %s after the start", n.Name, took.Round(100*time.Millisecond))

	before, err := md5Unexpected(ctx, n.Netns)
	if err != nil {
		t.Fatal(err)
	}
	e2eutil.LogStep(t, "for %s: %s has no session with either reflector; every other session stays Established", unsignedWindow, n.Name)
	var states string
	e2eutil.Consistently(t, unsignedWindow, time.Second, n.Name+" without the mesh password", func() error {
		var err error
		states, err = checkShutOut(ctx, l, n)
		return err
	})
	after, err := md5Unexpected(ctx, n.Netns)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("%s: TcpExtTCPMD5Unexpected stayed at %d: no signed segment from a reflector reached the unsigned node, so the window proves nothing", n.Name, after)
	}
	e2eutil.LogStep(t, "%s: no session for %s since its start (%s); its kernel dropped %d signed segments (TcpExtTCPMD5Unexpected %d -> %d)",
		n.Name, time.Since(start).Round(100*time.Millisecond), states, after-before, before, after)

	e2eutil.LogStep(t, "%s: restart the agent with --mesh-password-secret %s/%s", n.Name, passwordSecretNamespace, passwordSecretName)
	unsignedNode = 0
	restartAgent(t, l, n)
	took = e2eutil.Eventually(t, backTimeout, 500*time.Millisecond, "every session Established and signed", func() error {
		return checkSignedCluster(ctx, l)
	})
	e2eutil.LogStep(t, "%s: sessions with %v Established and signed %s after the start", n.Name, reflectors, took.Round(100*time.Millisecond))

	checkPodTraffic(ctx, t, l, n)
}

// restartAgent stops node's agent (a planned stop) and starts it with the
// arguments agentArgs gives now.
func restartAgent(t *testing.T, l *lab.Lab, node *lab.Node) {
	t.Helper()
	if err := l.Agents.Stop(node); err != nil {
		t.Fatal(err)
	}
	if err := l.Agents.Start(node); err != nil {
		t.Fatal(err)
	}
}

// restoreMeshPassword puts node's agent back on the mesh password if a
// failed step left it without, so the steps after it find the lab as
// TestReflectors describes it.
func restoreMeshPassword(t *testing.T, l *lab.Lab, node *lab.Node) {
	if unsignedNode == 0 {
		return
	}
	unsignedNode = 0
	t.Logf("cleanup: %s: restarting the agent with the mesh password", node.Name)
	ctx, cancel := context.WithTimeout(context.Background(), backTimeout+30*time.Second)
	defer cancel()
	if err := l.Agents.Stop(node); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if err := l.Agents.Start(node); err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if _, err := e2eutil.WaitFor(backTimeout, time.Second, "cleanup: every session Established and signed", func() error {
		return checkSignedCluster(ctx, l)
	}); err != nil {
		t.Errorf("%v", err)
	}
}

// checkUnsignedConfigured: node's agent runs and has exactly its reflector
// peers as neighbors (so a session that stays down is refused, not left
// out), and nothing on port 179 in its namespace holds a TCP-MD5 key.
func checkUnsignedConfigured(ctx context.Context, l *lab.Lab, node *lab.Node) error {
	nbs, err := e2eutil.BGPNeighbors(ctx, l, node)
	if err != nil {
		return err
	}
	var got []string
	for _, nb := range nbs {
		got = append(got, nb.Address.String())
	}
	var want []string
	for _, p := range expectedPeers(node.Number) {
		want = append(want, p.String())
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: neighbors %v, want %v", node.Name, got, want)
	}
	for _, state := range []string{"listening", "established"} {
		socks, err := bgpSockets(ctx, node.Netns, state, meshPassword)
		if err != nil {
			return err
		}
		if state == "listening" && len(socks) == 0 {
			return fmt.Errorf("%s: nothing listens on port 179", node.Name)
		}
		for _, s := range socks {
			if len(s.MD5Keys) > 0 {
				return fmt.Errorf("%s: %s socket %s holds a TCP-MD5 key without --mesh-password-secret", node.Name, state, s)
			}
		}
	}
	return nil
}

// checkShutOut: no session of node's is Established, on its side or on the
// reflectors', and every other expected session is. It returns node's
// session states as its gobgp and the reflectors' show them.
func checkShutOut(ctx context.Context, l *lab.Lab, node *lab.Node) (string, error) {
	statuses, err := l.Status(ctx)
	if err != nil {
		return "", err
	}
	var states []string
	for _, st := range statuses {
		self := st.Name == node.Name
		expected := map[string]bool{}
		if n := l.NodeByName(st.Name); n != nil {
			for _, p := range expectedPeers(n.Number) {
				expected[p.String()] = true
			}
		}
		for _, nb := range st.Neighbors {
			delete(expected, nb.Address.String())
			involved := self || nb.Address == node.IP
			switch {
			case involved && nb.Established():
				return "", fmt.Errorf("%s: session with %s is Established although %s runs without the mesh password", st.Name, nb.Address, node.Name)
			case involved:
				states = append(states, fmt.Sprintf("%s sees %s %s", st.Name, nb.Address, nb.State))
			case !nb.Established():
				return "", fmt.Errorf("%s: session with %s is %s: a node with the password lost its session", st.Name, nb.Address, nb.State)
			}
		}
		if len(expected) > 0 {
			return "", fmt.Errorf("%s: neighbors %v are not configured", st.Name, keys(expected))
		}
	}
	return strings.Join(states, ", "), nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkPodTraffic: node's pod pings every other pod and is pinged by each,
// and the other client's pod holds a TCP conversation with it (a route
// that came through the reflectors). Prints how long until all answered.
func checkPodTraffic(ctx context.Context, t *testing.T, l *lab.Lab, n *lab.Node) {
	t.Helper()
	start := time.Now()
	for _, other := range l.Nodes {
		if other == n {
			continue
		}
		for _, pair := range [][2]*lab.Pod{{n.Pod, other.Pod}, {other.Pod, n.Pod}} {
			from, to := pair[0], pair[1]
			e2eutil.LogStep(t, "ping %s (%s) from %s (%s)", to.IP, to.Netns, from.IP, from.Netns)
			e2eutil.Eventually(t, 15*time.Second, time.Second, "ping "+to.Netns+" from "+from.Netns, func() error {
				return e2eutil.Ping(ctx, from.Netns, to.IP, 2)
			})
		}
	}
	e2eutil.LogStep(t, "%s: its pod and every other pod reach each other (%s of pings)", n.Name, time.Since(start).Round(100*time.Millisecond))
	for _, other := range l.Nodes {
		if other != n && !isReflector(other.Number) {
			e2eutil.CheckPodTCP(ctx, t, other.Pod, n.Pod, echoPort)
		}
	}
}
