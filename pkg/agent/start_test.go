package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/routes"
)

// Only a fresh node's first apply asks for first connection attempts at
// once: after an agent restart (our routes still in the kernel), a speaker
// restart in place, or when the kernel cannot tell, the peers may be in
// GoBGP's idle hold after the drop, and the start is as before. No later
// pass asks for it.
func TestOnlyAFreshStartsFirstPeersAttemptAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		kernel   []routes.Route
		kernErr  error
		previous bool
		want     bool
	}{
		{name: "a new or rebooted node: no route of ours in the kernel", want: true},
		{name: "an agent restart: the kernel kept our routes", kernel: []routes.Route{{Prefix: n2CIDR, Gateway: netip.MustParseAddr("10.199.1.12")}}},
		{name: "the kernel cannot tell", kernErr: errors.New("netlink: no buffer space")},
		{name: "a speaker restarted in place", previous: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestAgent(t)
			ta.kernel.table, ta.kernel.anyErr = tt.kernel, tt.kernErr
			if tt.previous {
				ta.agent.previous = &identityChangedError{Node: "n1", From: ta.agent.identity, To: ta.agent.identity}
			}
			var atOnce []bool
			ta.speaker.beforeApply = func(d bgp.Desired) {
				atOnce = append(atOnce, d.FirstAttemptAtOnce)
				if len(atOnce) == 1 && (len(d.Peers) == 0 || len(d.Advertised) > 0) {
					t.Errorf("first apply: %d peers, advertised %v; want the peers and nothing announced", len(d.Peers), d.Advertised)
				}
			}
			first := ta.agent.plan(context.Background())
			ta.agent.applyFirstPeers(context.Background(), first)
			ta.routePass()
			ta.nodePass(t)
			ta.nodePass(t)
			if len(atOnce) != 3 || atOnce[0] != tt.want || atOnce[1] || atOnce[2] {
				t.Fatalf("FirstAttemptAtOnce of the start's apply and the two passes after = %v; want [%v false false]", atOnce, tt.want)
			}
		})
	}
}
