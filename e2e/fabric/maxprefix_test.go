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

// testMaxPrefix: node2 (--accept-upstream-routes) gets its ToR as an
// annotation peer with maxPrefixes one above what the ToR sends it now, and
// its own timers, which node2's GoBGP then has for that neighbor; the ToR
// then announces two prefixes outside the cluster CIDR. GoBGP tears the
// session down and the agent logs why.
func testMaxPrefix(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	tor := l.ToRs[0]
	n := e2eutil.NodeWithPod(t, l, acceptingNode)
	const key = "nodebgp.io/peers"
	extra := []netip.Prefix{netip.MustParsePrefix("10.198.1.0/24"), netip.MustParsePrefix("10.198.2.0/24")}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for _, p := range extra {
			if err := tor.Withdraw(cctx, p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		// The step lifts the limit itself; this is for a step that failed
		// before it did. The next step needs the session back.
		if err := e2eutil.Annotate(cctx, l, n, key, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if t.Failed() {
			if _, err := e2eutil.WaitFor(30*time.Second, 500*time.Millisecond, n.Name+"'s ToR session back", func() error {
				return checkToRSession(cctx, l, n)
			}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	table, err := tor.BGPTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0 // what the ToR sends n: every best path not learned from n
	for _, paths := range table {
		for _, p := range paths {
			if p.Best && p.From != n.IP {
				sent++
			}
		}
	}
	limit := sent + 1
	value := fmt.Sprintf(`[{"address":%q,"asn":%d,"maxPrefixes":%d,"holdTime":"30s","keepaliveTime":"10s","connectRetryTime":"3s"}]`,
		torAddr(n), 65000, limit)
	e2eutil.LogStep(t, "the ToR sends %s %d prefixes; %s=%s", n.Name, sent, key, value)
	if err := e2eutil.Annotate(ctx, l, n, key, &value); err != nil {
		t.Fatal(err)
	}
	e2eutil.Consistently(t, 3*time.Second, 500*time.Millisecond, "session under the limit", func() error { return checkToRSession(ctx, l, n) })
	nb, ok, err := e2eutil.BGPNeighbor(ctx, l, n, torAddr(n))
	if err != nil || !ok {
		t.Fatalf("%s's GoBGP has no neighbor %s (%v)", n.Name, torAddr(n), err)
	}
	timers := nb.Timers
	e2eutil.LogStep(t, "%s's GoBGP has for %s: %+v", n.Name, torAddr(n), timers)
	if want := (lab.NeighborTimers{HoldTime: 30 * time.Second, Keepalive: 10 * time.Second, ConnectRetry: 3 * time.Second}); timers != want {
		t.Errorf("%s's GoBGP timers for %s are %+v, want %+v from the annotation", n.Name, torAddr(n), timers, want)
	}

	offset, torOffset := logOffset(l, n), e2eutil.LogSize(tor.Log())
	e2eutil.LogStep(t, "%s announces %v: %d prefixes for a limit of %d", tor.Name, extra, sent+len(extra), limit)
	for _, p := range extra {
		if err := tor.Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e2eutil.LogStep(t, "%s sees %s end the session with a Cease and keeps none of its paths (show bgp neighbors %s json)", tor.Name, n.Name, n.IP)
	var view string
	took := e2eutil.Eventually(t, 30*time.Second, 100*time.Millisecond, tor.Name+"'s view of the teardown", func() error {
		var err error
		view, err = checkMaxPrefixTeardown(ctx, tor, n, torOffset)
		return err
	})
	e2eutil.LogStep(t, "after %s the ToR: %s", took.Round(100*time.Millisecond), view)
	e2eutil.Consistently(t, 3*time.Second, 500*time.Millisecond, "no session between "+tor.Name+" and "+n.Name+" while the limit holds", func() error {
		nb, ok, err := tor.Neighbor(ctx, n.IP)
		if err == nil && ok && nb.Established() {
			err = fmt.Errorf("%s: %s is Established again with the limit still in place", tor.Name, n.Name)
		}
		return err
	})
	for _, parts := range [][]string{{"prefix limit reached"}, {"Peer Down", torAddr(n).String()}} {
		line, err := agentLogged(l, n, offset, parts...)
		if err != nil {
			t.Error(err)
			continue
		}
		e2eutil.LogStep(t, "the agent logged: %s", line)
	}

	// GoBGP leaves a neighbor that hit its limit administratively down
	// (PFX_CT); the agent brings it back when the limit changes.
	e2eutil.LogStep(t, "%s removed (the limit lifted): the session comes back", key)
	if err := e2eutil.Annotate(ctx, l, n, key, nil); err != nil {
		t.Fatal(err)
	}
	took = e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, n.Name+"'s ToR session back with the limit lifted", func() error {
		return checkToRSession(ctx, l, n)
	})
	e2eutil.LogStep(t, "session back %s after the limit was lifted", took.Round(100*time.Millisecond))
}

// checkMaxPrefixTeardown is the ToR's own view of node ending their session
// over its prefix limit: the node sent a Cease NOTIFICATION, the ToR has no
// session with it any more, and it kept none of its paths. GoBGP 3.37 sends
// the Cease as a Hard Reset (RFC 8538: graceful restart is negotiated) with
// no inner subcode, so the ToR sees "Cease/Hard Reset", not the prefix
// limit, and must not keep the node's routes as stale. FRR forgets a
// neighbor that came through a listen range once its session ends; then the
// NOTIFICATION it received is only in its bgpd log (written after offset).
// It returns what it saw.
func checkMaxPrefixTeardown(ctx context.Context, tor *lab.ToR, node *lab.Node, offset int64) (string, error) {
	nb, ok, err := tor.Neighbor(ctx, node.IP)
	if err != nil {
		return "", err
	}
	var seen string
	switch {
	case ok && nb.Established():
		return "", fmt.Errorf("%s: neighbor %s (%s) is still Established", tor.Name, node.IP, node.Name)
	case ok && !strings.Contains(nb.LastNotification, "Cease"):
		return "", fmt.Errorf("%s: neighbor %s (%s) is %s, last reset %q, last NOTIFICATION %q, want a Cease",
			tor.Name, node.IP, node.Name, nb.State, nb.LastReset, nb.LastNotification)
	case ok:
		seen = fmt.Sprintf("neighbor %s is %s, last reset %q, last NOTIFICATION %q", node.IP, nb.State, nb.LastReset, nb.LastNotification)
	default:
		lines, err := e2eutil.LogLinesSince(tor.Log(), offset, "NOTIFICATION", "received from neighbor "+node.IP.String()+" ", "Cease")
		if err != nil {
			return "", err
		}
		if len(lines) == 0 {
			return "", fmt.Errorf("%s has no neighbor %s (%s), but its bgpd log has no Cease NOTIFICATION received from it", tor.Name, node.IP, node.Name)
		}
		seen = fmt.Sprintf("no neighbor %s (a listen-range neighbor is forgotten when its session ends); bgpd logged: %s", node.IP, strings.TrimSpace(lines[0]))
	}
	table, err := tor.BGPTable(ctx)
	if err != nil {
		return "", err
	}
	for prefix, paths := range table {
		for _, p := range paths {
			if p.From == node.IP {
				return "", fmt.Errorf("%s still has %s from %s (%s) after the session ended (stale %v)", tor.Name, prefix, node.IP, node.Name, p.Stale)
			}
		}
	}
	return seen + "; no path from it in its table", nil
}
