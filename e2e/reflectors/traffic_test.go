//go:build e2e

package reflectors

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// echoPort is where the TCP echo listener listens.
const echoPort = "8181"

// testTraffic: every pod pings every other pod (12 pairs), and a TCP
// conversation between the pods of the two clients, whose routes to each
// other are reflected, shows the sender's own pod IP at the receiver.
func testTraffic(t *testing.T) {
	l := requireLab(t)
	ctx := testContext(t, 2*time.Minute)
	for _, from := range l.Nodes {
		for _, to := range l.Nodes {
			if from == to {
				continue
			}
			logStep(t, "ping %s (%s) from %s (%s)", to.Pod.IP, to.Pod.Netns, from.Pod.IP, from.Pod.Netns)
			eventually(t, 15*time.Second, time.Second, "ping "+to.Pod.Netns+" from "+from.Pod.Netns, func() error {
				return ping(ctx, from.Pod.Netns, to.Pod.IP, 2)
			})
		}
	}
	from, to := node(t, l, 3).Pod, node(t, l, 4).Pod
	addr := net.JoinHostPort(to.IP.String(), echoPort)
	logStep(t, "TCP: a listener in %s on %s answers a line sent from %s", to.Netns, addr, from.Netns)
	srv, err := startEcho(to.Netns, addr, to.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	line := "hello from " + from.Netns
	want := fmt.Sprintf("%s from %s: %s", to.Netns, from.IP, line)
	eventually(t, 10*time.Second, time.Second, "TCP to "+addr, func() error {
		got, err := echo(ctx, from.Netns, addr, line)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("reply %q, want %q", got, want)
		}
		return nil
	})
}
