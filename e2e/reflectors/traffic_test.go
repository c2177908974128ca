//go:build e2e

package reflectors

import (
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// echoPort is where the TCP echo listener listens.
const echoPort = "8181"

// testTraffic: every pod pings every other pod (12 pairs), and a TCP
// conversation between the pods of the two clients, whose routes to each
// other are reflected, shows the sender's own pod IP at the receiver.
func testTraffic(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	for _, from := range l.Nodes {
		for _, to := range l.Nodes {
			if from == to {
				continue
			}
			e2eutil.LogStep(t, "ping %s (%s) from %s (%s)", to.Pod.IP, to.Pod.Netns, from.Pod.IP, from.Pod.Netns)
			e2eutil.Eventually(t, 15*time.Second, time.Second, "ping "+to.Pod.Netns+" from "+from.Pod.Netns, func() error {
				return e2eutil.Ping(ctx, from.Pod.Netns, to.Pod.IP, 2)
			})
		}
	}
	from, to := e2eutil.NodeWithPod(t, l, 3).Pod, e2eutil.NodeWithPod(t, l, 4).Pod
	e2eutil.CheckPodTCP(ctx, t, from, to, echoPort)
}
