package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/peering"
	"k8s.io/client-go/tools/record"
)

// The rules the docs promise about the order and the conditions under which
// the loops act (docs/architecture.md, "The agent's loops"). Each fake fails
// the test where a rule would be broken. That policy reaches GoBGP before
// any new peer is the speaker's own rule, inside one Apply: see pkg/bgp.

func TestAPodCIDRIsNeverAdvertisedBeforeTheNodeCanCarryItsTraffic(t *testing.T) {
	ta := newTestAgent(t)
	ta.speaker.beforeApply = func(d bgp.Desired) {
		for _, p := range d.Advertised {
			switch {
			case ta.cni.conf == nil:
				t.Errorf("%s advertised before the conflist was written", p.Prefix)
			case ta.host.bridge == nil:
				t.Errorf("%s advertised before the bridge exists", p.Prefix)
			case ta.kernel.syncs == 0:
				t.Errorf("%s advertised before the first kernel route sync", p.Prefix)
			}
		}
	}

	ta.nodePass(t)
	if ta.speaker.advertises(n1CIDR) {
		t.Fatalf("advertised before the first route sync")
	}
	if len(ta.speaker.desired.Peers) == 0 {
		t.Fatalf("no peers configured: peers must not wait for the data plane")
	}

	ta.cni.err = errors.New("read-only file system")
	ta.routePass()
	ta.nodePass(t)
	if ta.speaker.advertises(n1CIDR) {
		t.Fatalf("advertised while the conflist cannot be written")
	}

	ta.cni.err = nil
	ta.host.bridgeErr = errors.New("operation not permitted")
	ta.nodePass(t)
	if ta.speaker.advertises(n1CIDR) {
		t.Fatalf("advertised while the bridge cannot be set up")
	}

	ta.host.bridgeErr = nil
	ta.nodePass(t)
	if !ta.speaker.advertises(n1CIDR) {
		t.Fatalf("not advertised once the conflist, the bridge and the routes are in place")
	}

	// A transient failure after that must not withdraw a working node.
	ta.cni.err = errors.New("disk full")
	ta.nodePass(t)
	if !ta.speaker.advertises(n1CIDR) {
		t.Fatalf("a failing conflist write withdrew the pod CIDR of a node that carries traffic")
	}
}

func TestStaleKernelRoutesAreNeverPrunedBeforeTheRIBConverged(t *testing.T) {
	tests := []struct {
		name string
		// setUp brings the agent to the point where pruning is allowed.
		setUp func(ta *testAgent)
	}{
		{"every peer sent End-of-RIB", func(ta *testAgent) { ta.speaker.converged = true }},
		{"the restart time ran out", func(ta *testAgent) { ta.clock = ta.clock.Add(ta.cfg.RestartTime) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestAgent(t)
			stale := netip.MustParsePrefix("10.244.9.0/24")
			ta.kernel.table = nil
			allowed := false
			ta.kernel.mayPrune = func() bool { return allowed }
			// A route of ours from before the restart, not re-learned yet.
			ta.speaker.best = []bgp.Path{{Prefix: stale, NextHop: netip.MustParseAddr("10.199.1.19")}}
			ta.routePass()
			ta.speaker.best = nil

			// Before the peers are even configured, "every peer converged"
			// is vacuously true and must not count.
			ta.speaker.converged = true
			ta.routePass()
			ta.speaker.converged = false
			ta.nodePass(t)
			ta.clock = ta.clock.Add(ta.cfg.RestartTime - time.Second)
			ta.routePass()
			if len(ta.kernel.table) != 1 {
				t.Fatalf("kernel table %v: the stale route must stay until the RIB converged", ta.kernel.table)
			}

			allowed = true
			tt.setUp(ta)
			ta.routePass()
			if len(ta.kernel.table) != 0 {
				t.Fatalf("kernel table %v: the stale route must go once the RIB converged", ta.kernel.table)
			}
		})
	}
}

func TestOwnPodCIDRsNeverBecomeKernelRoutes(t *testing.T) {
	ta := newTestAgent(t)
	via := netip.MustParseAddr("10.199.1.12")
	ta.speaker.best = []bgp.Path{
		{Prefix: n2CIDR, NextHop: via},
		{Prefix: n1CIDR, NextHop: via},                                   // ours, announced by a peer
		{Prefix: netip.MustParsePrefix("10.244.1.128/25"), NextHop: via}, // a more-specific of ours
		{Prefix: n1CIDR, NextHop: ta.self.IP},                            // ours, as the RIB shows it
	}
	ta.routePass()
	if len(ta.kernel.table) != 1 || ta.kernel.table[0].Prefix != n2CIDR {
		t.Fatalf("kernel table %v, want only %s", ta.kernel.table, n2CIDR)
	}
}

func TestASecondPassOverUnchangedInputsWritesNothing(t *testing.T) {
	ta := newTestAgent(t)
	for i := 4; i <= 8; i++ {
		n := testNode(fmt.Sprintf("n%d", i), fmt.Sprintf("10.199.1.%d", 10+i), fmt.Sprintf("10.244.%d.0/24", i))
		if err := ta.nodes.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	ta.speaker.best = []bgp.Path{{Prefix: n2CIDR, NextHop: netip.MustParseAddr("10.199.1.12")}}
	ta.speaker.converged = true
	ta.nodePass(t)
	ta.routePass()
	ta.nodePass(t)
	ta.routePass()
	if ta.speaker.writes == 0 || ta.kernel.writes == 0 || ta.host.writes == 0 || ta.firewall.writes == 0 || ta.cni.writes == 0 {
		t.Fatalf("writes after the first passes: %s; every system must have been set up", ta.writes())
	}
	before := ta.writes()
	calls := ta.calls()
	ta.nodePass(t)
	ta.routePass()
	if after := ta.writes(); after != before {
		t.Fatalf("a pass over unchanged inputs wrote: before %s, after %s", before, after)
	}
	if ta.calls() == calls {
		t.Fatalf("the pass made no calls at all: it must still reconcile (repair drift)")
	}
}

func TestAnIdentityChangeAppliesNothingToTheOldSpeaker(t *testing.T) {
	ta := newTestAgent(t)
	ta.nodePass(t)
	ta.routePass()
	calls := ta.calls()

	self := testNode("n1", "10.199.1.11", "10.244.1.0/24", peering.AnnotationASN, "65101")
	if err := ta.nodes.Update(self); err != nil {
		t.Fatal(err)
	}
	err := ta.agent.nodePass(t.Context())
	var changed *identityChangedError
	if !errors.As(err, &changed) || changed.To.ASN != 65101 {
		t.Fatalf("node pass = %v, want the speaker to end for AS 65101", err)
	}
	if ta.calls() != calls {
		t.Fatalf("the pass that found a new identity made %d calls to the outside systems, want none", ta.calls()-calls)
	}
}

func TestTheCNIConfigWaitsUntilTheNodeCanRoute(t *testing.T) {
	ta := newTestAgent(t)
	ta.cfg.NetworkReadyTimeout = 30 * time.Second
	established := func(n int) []bgp.PeerStatus {
		out := make([]bgp.PeerStatus, n)
		for i := range out {
			out[i].State = bgp.StateEstablished
		}
		return out
	}

	ta.nodePass(t)
	if ta.cni.conf != nil {
		t.Fatalf("conflist written before the first route sync")
	}
	ta.routePass()
	ta.speaker.sessions = established(1)
	ta.nodePass(t)
	if ta.cni.conf != nil {
		t.Fatalf("conflist written with 1 of 2 sessions established, before the timeout")
	}
	if ta.speaker.advertises(n1CIDR) {
		t.Fatalf("pod CIDR advertised before the node takes pods")
	}
	ta.speaker.sessions = established(2)
	ta.nodePass(t)
	if ta.cni.conf == nil || !ta.speaker.advertises(n1CIDR) {
		t.Fatalf("every session up after the route sync: conflist %v, advertised %v; want both", ta.cni.conf != nil, ta.speaker.advertises(n1CIDR))
	}

	// Losing every session later keeps the config (and the node's pods).
	ta.speaker.sessions = nil
	ta.nodePass(t)
	if ta.cni.conf == nil || !ta.speaker.advertises(n1CIDR) {
		t.Fatalf("sessions lost: the conflist and the announcement must stay")
	}
}

func TestTheWaitForSessionsIsBounded(t *testing.T) {
	ta := newTestAgent(t)
	ta.cfg.NetworkReadyTimeout = 30 * time.Second
	ta.routePass()
	ta.nodePass(t)
	if ta.cni.conf != nil {
		t.Fatalf("conflist written with no session up, before the timeout")
	}
	ta.clock = ta.clock.Add(30 * time.Second)
	ta.nodePass(t)
	if ta.cni.conf == nil {
		t.Fatalf("conflist not written once --network-ready-timeout ran out")
	}
}

func TestAConfigFromBeforeARestartIsKeptWhileTheNodeWaits(t *testing.T) {
	ta := newTestAgent(t)
	ta.cfg.NetworkReadyTimeout = 30 * time.Second
	ta.cni.existed = true
	ta.conflistWritten = true // as start() reads it
	ta.nodePass(t)
	if ta.cni.conf == nil {
		t.Fatalf("an agent restarted on a node with pods must keep their network config current")
	}
}

func TestLosingEverySessionIsAnEventButARestartIsNot(t *testing.T) {
	ta := newTestAgent(t)
	ta.cfg.NetworkReadyTimeout = 30 * time.Second
	ta.conflistWritten = true // a restart: the config and the pods are there
	events := ta.events.(*record.FakeRecorder).Events
	ta.routePass()
	ta.nodePass(t)
	if len(events) != 0 {
		t.Fatalf("event %q while a restarted speaker's sessions come up", <-events)
	}
	ta.speaker.sessions = []bgp.PeerStatus{{State: bgp.StateEstablished}, {State: bgp.StateEstablished}}
	ta.nodePass(t)
	ta.speaker.sessions = []bgp.PeerStatus{{State: "active"}, {State: "idle"}}
	ta.nodePass(t)
	select {
	case e := <-events:
		if !strings.Contains(e, reasonSessionsDown) {
			t.Fatalf("event %q, want %s", e, reasonSessionsDown)
		}
	default:
		t.Fatalf("every session lost: no %s event", reasonSessionsDown)
	}
	if ta.cni.conf == nil {
		t.Fatalf("the CNI config must stay when the sessions are lost")
	}
}

func TestASettingThatContradictsTheClusterMakesTheNodeNotReadyWithAnEvent(t *testing.T) {
	ta := newTestAgent(t)
	ta.cfg.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")}
	ta.speaker.sessions = []bgp.PeerStatus{{State: bgp.StateEstablished}, {State: bgp.StateEstablished}}
	events := ta.events.(*record.FakeRecorder).Events
	ta.routePass()
	ta.nodePass(t)
	if ta.ready() {
		t.Fatalf("ready with a --cluster-cidr that holds no node's pod CIDR")
	}
	select {
	case e := <-events:
		if !strings.Contains(e, reasonInvalidSetting) || !strings.Contains(e, "--cluster-cidr 10.99.0.0/16") {
			t.Fatalf("event %q, want %s naming the flag and its value", e, reasonInvalidSetting)
		}
	default:
		t.Fatalf("no Event for the bad --cluster-cidr")
	}
	ta.nodePass(t)
	if len(events) != 0 {
		t.Fatalf("event %q: the same problem must be recorded once", <-events)
	}
	ta.cfg.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}
	ta.nodePass(t)
	if !ta.ready() {
		t.Fatalf("not ready after --cluster-cidr was fixed")
	}
}
