//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testASNChange: node1's nodebgp.io/asn changes while node2's pod pings
// node1's pod across racks. The agent restarts its speaker in place (same
// process), the ToR learns node1's pod CIDR from the new AS, the Node gets a
// BGPSpeakerRestarted Event, and the pings lost are printed (graceful
// restart keeps the route on the ToR and in the kernels meanwhile, so none
// should be). Then the annotation goes back and the old AS returns.
func testASNChange(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	n1, n2 := e2eutil.NodeWithPod(t, l, 1), e2eutil.NodeWithPod(t, l, 2)
	const key = "nodebgp.io/asn"
	original, changed := fmt.Sprint(nodeASN(n1.Number)), fmt.Sprint(nodeASN(n1.Number)+100)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e2eutil.Annotate(cctx, l, n1, key, e2eutil.Ptr(original)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	pid := e2eutil.AgentPID(t, l, n1)
	for _, asn := range []string{changed, original} {
		e2eutil.LogStep(t, "%s=%s on %s while %s pings %s every 50ms", key, asn, n1.Name, n2.Pod.Netns, n1.Pod.IP)
		offset := logOffset(l, n1)
		watch := e2eutil.PingWatch{From: n2.Pod.Netns, To: n1.Pod.IP, MaxRun: 60 * time.Second}
		_, took := e2eutil.NoPingLost(t, watch, n1.Name+"'s speaker restart in place", func() error {
			if err := e2eutil.Annotate(ctx, l, n1, key, e2eutil.Ptr(asn)); err != nil {
				return err
			}
			_, err := e2eutil.WaitFor(60*time.Second, 200*time.Millisecond, "the ToR's best path for "+n1.PodCIDR.String()+" from AS "+asn, func() error {
				path, err := checkToRHasRoute(ctx, l, n1)
				if err != nil {
					return err
				}
				if want := []uint32{parseASN(t, asn)}; !slices.Equal(path.ASPath, want) || path.Stale {
					return fmt.Errorf("best path AS path %v (stale %v), want %v, fresh", path.ASPath, path.Stale, want)
				}
				return nil
			})
			return err
		})
		e2eutil.LogStep(t, "the ToR has %s from AS %s %s after the annotation", n1.PodCIDR, asn, took.Round(100*time.Millisecond))
		line, err := agentLogged(l, n1, offset, "speaker-restart", key)
		if err != nil {
			t.Fatal(err)
		}
		e2eutil.LogStep(t, "log: %s", line)
		e2eutil.Eventually(t, 20*time.Second, 500*time.Millisecond, "BGPSpeakerRestarted Event", func() error {
			ev, err := findEvent(ctx, l, n1, corev1.EventTypeNormal, "BGPSpeakerRestarted", `node "`+n1.Name+`"`, key, "in place with AS "+asn+",")
			if err == nil {
				e2eutil.LogStep(t, "Event %s: %s", ev.Reason, ev.Message)
			}
			return err
		})
		if now := e2eutil.AgentPID(t, l, n1); now != pid {
			t.Errorf("%s's agent is a new process (PID %d, was %d): the change must not restart it", n1.Name, now, pid)
		}
	}

	const bad = "65101x"
	e2eutil.LogStep(t, "%s=%s (a typo): reported, and the node stays in AS %s", key, bad, original)
	offset := logOffset(l, n1)
	if err := e2eutil.Annotate(ctx, l, n1, key, e2eutil.Ptr(bad)); err != nil {
		t.Fatal(err)
	}
	e2eutil.Eventually(t, 20*time.Second, 500*time.Millisecond, "InvalidAnnotation Event for "+bad, func() error {
		_, err := findEvent(ctx, l, n1, corev1.EventTypeWarning, "InvalidAnnotation", `node "`+n1.Name+`"`, key, bad)
		return err
	})
	e2eutil.Consistently(t, 3*time.Second, 500*time.Millisecond, n1.PodCIDR.String()+" from AS "+original, func() error {
		path, err := checkToRHasRoute(ctx, l, n1)
		if err == nil && (!slices.Equal(path.ASPath, []uint32{parseASN(t, original)}) || path.Stale) {
			err = fmt.Errorf("best path AS path %v (stale %v), want [%s], fresh", path.ASPath, path.Stale, original)
		}
		return err
	})
	if line, err := agentLogged(l, n1, offset, "speaker-restart"); err == nil {
		t.Errorf("a bad ASN restarted the speaker: %s", line)
	}
}

func parseASN(t *testing.T, s string) uint32 {
	t.Helper()
	var asn uint32
	if _, err := fmt.Sscan(s, &asn); err != nil {
		t.Fatalf("ASN %q: %v", s, err)
	}
	return asn
}
