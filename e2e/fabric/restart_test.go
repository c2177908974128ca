//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// testRestarts: (a) node1's agent is stopped with SIGTERM and started again:
// the ToR keeps node1's pod CIDR the whole time (graceful restart helper)
// and the session is back within seconds. (b) The ToR's bgpd is killed and
// started again (ToR.Restart), graceful restart on both sides: the
// sessions come back, and pod traffic across racks never stops (the ToR's
// zebra keeps bgpd's routes, the nodes keep the ToR's); the pings lost are
// printed and must be none.
func testRestarts(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	tor := l.ToRs[0]
	node1, node2 := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)

	e2eutil.LogStep(t, "watching %s on %s every 200ms", node1.PodCIDR, tor.Name)
	w := watchToRRoute(ctx, l, node1)
	t.Cleanup(func() {
		if !l.Agents.Running(node1) {
			if err := l.Agents.Start(node1); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	e2eutil.LogStep(t, "%s's agent: SIGTERM", node1.Name)
	stopped := time.Now()
	if err := l.Agents.Stop(node1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	e2eutil.LogStep(t, "%s's agent: started again after %s", node1.Name, time.Since(stopped).Round(100*time.Millisecond))
	if err := l.Agents.Start(node1); err != nil {
		t.Fatal(err)
	}
	back := e2eutil.Eventually(t, 60*time.Second, 200*time.Millisecond, node1.Name+" session back", func() error {
		return checkToRSession(ctx, l, node1)
	})
	sinceStop := time.Since(stopped)
	e2eutil.Eventually(t, 30*time.Second, 200*time.Millisecond, node1.Name+" route fresh on the ToR", func() error {
		p, err := checkToRHasRoute(ctx, l, node1)
		if err == nil && p.Stale {
			return fmt.Errorf("%s is still stale", node1.PodCIDR)
		}
		return err
	})
	polls, misses, stale, firstErr := w.stop()
	e2eutil.LogStep(t, "agent restart: session back %s after the start (%s after SIGTERM); ToR polls %d, route missing %d, stale %d",
		back.Round(100*time.Millisecond), sinceStop.Round(100*time.Millisecond), polls, misses, stale)
	if misses > 0 {
		t.Errorf("the ToR lost %s during the agent restart in %d of %d polls: %v", node1.PodCIDR, misses, polls, firstErr)
	}
	// Kept, and kept as stale: the ToR held the route as graceful-restart
	// helper while the session was down, not because it never went down.
	if stale == 0 {
		t.Errorf("the ToR never had %s as stale in %d polls during the agent restart: the session did not go down, or the route was not kept by graceful restart", node1.PodCIDR, polls)
	}
	if back > 15*time.Second {
		t.Errorf("session back after %s, want within 15s", back)
	}

	e2eutil.LogStep(t, "%s's bgpd restarts while %s pings %s every 50ms", tor.Name, node1.Pod.Netns, node2.Pod.IP)
	watch := e2eutil.PingWatch{From: node1.Pod.Netns, To: node2.Pod.IP, After: 2 * time.Second, MaxRun: 90 * time.Second}
	_, sessions := e2eutil.NoPingLost(t, watch, tor.Name+"'s bgpd restart", func() error {
		if err := tor.Restart(ctx); err != nil {
			return err
		}
		_, err := e2eutil.WaitFor(60*time.Second, 200*time.Millisecond, "every session back after the bgpd restart", func() error {
			for _, n := range upNodes(t, l) {
				if err := checkToRSession(ctx, l, n); err != nil {
					return err
				}
				if _, err := checkToRHasRoute(ctx, l, n); err != nil {
					return err
				}
			}
			return nil
		})
		return err
	})
	e2eutil.LogStep(t, "bgpd restart: every session and route back %s after it", sessions.Round(100*time.Millisecond))
	if err := e2eutil.Ping(ctx, node1.Pod.Netns, node2.Pod.IP, 3); err != nil {
		t.Errorf("after the bgpd restart: %v", err)
	}
}

// routeWatch polls the ToR's table for node's pod CIDR in the background.
type routeWatch struct {
	cancel                context.CancelFunc
	wg                    sync.WaitGroup
	polls, misses, stales int
	firstErr              error
}

func watchToRRoute(ctx context.Context, l *lab.Lab, n *lab.Node) *routeWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &routeWatch{cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			table, err := l.ToRs[0].BGPTable(ctx)
			if ctx.Err() != nil {
				return
			}
			w.polls++
			if err == nil {
				var p lab.ToRPath
				if p, err = bestVia(table, n); err == nil && p.Stale {
					w.stales++
				}
			}
			if err != nil {
				w.misses++
				if w.firstErr == nil {
					w.firstErr = err
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *routeWatch) stop() (polls, misses, stales int, firstErr error) {
	w.cancel()
	w.wg.Wait()
	return w.polls, w.misses, w.stales, w.firstErr
}
