//go:build e2e

package reflectors

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// promotedNode is the client step 06 turns into a third reflector.
const promotedNode = 3

// testPromote: node3, a client, is annotated as a reflector while lab-pod4
// (a client) pings lab-pod3 every 50 ms. node3's agent restarts its speaker
// in place (same process), node3 then peers with every node and reflects,
// node4 peers with three reflectors, and no ping is lost (graceful restart:
// the reflectors keep node3's route meanwhile). Removing the annotation
// returns the lab to two reflectors, again without a lost ping.
func testPromote(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	n3, n4 := e2eutil.NodeWithPod(t, l, promotedNode), e2eutil.NodeWithPod(t, l, 4)
	const key = "nodebgp.io/route-reflector-cluster-id"
	t.Cleanup(func() {
		reflectorNodes = slices.DeleteFunc(reflectorNodes, func(n int) bool { return n == promotedNode })
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e2eutil.Annotate(cctx, l, n3, key, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	pid := e2eutil.AgentPID(t, l, n3)

	for _, promote := range []bool{true, false} {
		value, what := (*string)(nil), "removed"
		reflectorNodes = slices.DeleteFunc(reflectorNodes, func(n int) bool { return n == promotedNode })
		if promote {
			value, what = e2eutil.Ptr(clusterID), clusterID
			reflectorNodes = append(reflectorNodes, promotedNode)
		}
		e2eutil.LogStep(t, "%s: %s %s while %s pings %s every 50ms; reflectors now %v", n3.Name, key, what, n4.Pod.Netns, n3.Pod.IP, reflectorNodes)
		watch := e2eutil.PingWatch{From: n4.Pod.Netns, To: n3.Pod.IP, MaxRun: 90 * time.Second}
		_, took := e2eutil.NoPingLost(t, watch, n3.Name+"'s speaker restart in place", func() error {
			if err := e2eutil.Annotate(ctx, l, n3, key, value); err != nil {
				return err
			}
			_, err := e2eutil.WaitFor(60*time.Second, 500*time.Millisecond, "every node's neighbors as the new design wants", func() error {
				return checkSignedCluster(ctx, l)
			})
			return err
		})
		e2eutil.LogStep(t, "every node has exactly the sessions of reflectors %v %s after the annotation",
			reflectorNodes, took.Round(100*time.Millisecond))
		if now := e2eutil.AgentPID(t, l, n3); now != pid {
			t.Errorf("%s's agent is a new process (PID %d, was %d): the change must not restart it", n3.Name, now, pid)
		}
	}
	testTraffic(t)
}
