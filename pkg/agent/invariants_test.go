package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/tools/record"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/health"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/routes"
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
	// Best-path changes before the first full sync (the RIB could not be
	// read) are no sync: they are not applied one by one, and the gate
	// stays shut.
	ta.speaker.bestErr = errors.New("speaker busy")
	ta.routeEvents(bgp.BestChange{Prefix: n2CIDR, NextHops: []netip.Addr{netip.MustParseAddr("10.199.1.12")}})
	ta.nodePass(t)
	if ta.speaker.advertises(n1CIDR) || ta.kernel.updates != 0 {
		t.Fatalf("best-path changes before the first full route sync: %d kernel updates, advertised %v; want none",
			ta.kernel.updates, ta.speaker.advertises(n1CIDR))
	}
	ta.speaker.bestErr = nil
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
		{"every peer sent End-of-RIB", func(ta *testAgent) {
			ta.speaker.converged = true
			ta.clock = ta.clock.Add(convergeAskInterval) // when the loop asks next
		}},
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
			// A withdrawal event for it before convergence prunes nothing
			// either.
			ta.routeEvents(bgp.BestChange{Prefix: stale})
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

	// The same paths as best-path events, applied one by one.
	n3CIDR := netip.MustParsePrefix("10.244.3.0/24")
	ta.routeEvents(
		bgp.BestChange{Prefix: n1CIDR, NextHops: []netip.Addr{via}},
		bgp.BestChange{Prefix: netip.MustParsePrefix("10.244.1.128/25"), NextHops: []netip.Addr{via}},
		bgp.BestChange{Prefix: n3CIDR, NextHops: []netip.Addr{ta.self.IP, via}},
	)
	if ta.kernel.updates == 0 {
		t.Fatalf("best-path events did not reach the kernel as an update")
	}
	want := []routes.Route{{Prefix: n2CIDR, Gateway: via}, {Prefix: n3CIDR, Gateway: via}}
	if !slices.Equal(ta.kernel.table, want) {
		t.Fatalf("kernel table %v, want %v", ta.kernel.table, want)
	}
}

func TestBestPathChangesReachTheKernelWithoutAFullListing(t *testing.T) {
	ta := newTestAgent(t)
	ta.speaker.converged = true
	ta.nodePass(t)
	ta.routePass()
	reads := ta.speaker.bestReads

	via := netip.MustParseAddr("10.199.1.12")
	learned := bgp.BestChange{Prefix: netip.MustParsePrefix("172.16.0.1/32"), NextHops: []netip.Addr{via}}
	ta.routeEvents(learned)
	if want := []routes.Route{{Prefix: learned.Prefix, Gateway: via}}; !slices.Equal(ta.kernel.table, want) {
		t.Fatalf("kernel table %v after a best-path event, want %v", ta.kernel.table, want)
	}
	writes := ta.kernel.writes
	ta.routeEvents(learned)
	if ta.kernel.writes != writes {
		t.Fatalf("the same change applied again wrote to the kernel")
	}
	ta.routeEvents(bgp.BestChange{Prefix: learned.Prefix})
	if len(ta.kernel.table) != 0 {
		t.Fatalf("kernel table %v after the withdrawal, want it empty", ta.kernel.table)
	}
	if ta.speaker.bestReads != reads {
		t.Fatalf("best-path events cost %d full RIB listings, want none", ta.speaker.bestReads-reads)
	}

	// A watch that (re)starts may have missed changes: a full pass follows.
	ta.agent.routeChanges.add(nil)
	ta.agent.routePass(t.Context(), &ta.route)
	if ta.speaker.bestReads != reads+1 {
		t.Fatalf("a restarted watch made %d full listings, want 1", ta.speaker.bestReads-reads)
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

// The kernel reports every deletion of a route of ours, the agent's own
// withdrawals too: those must not cost a full pass (under churn they came
// every few seconds, each a re-read of the whole RIB and kernel table), while
// a route deleted by hand still brings one, which puts it back.
func TestOnlyARouteDeletedByHandMakesAFullPass(t *testing.T) {
	ta := newTestAgent(t)
	ta.speaker.converged = true
	ta.nodePass(t)
	ta.routePass()
	via := netip.MustParseAddr("10.199.1.12")
	withdrawn, kept := netip.MustParsePrefix("172.16.0.1/32"), netip.MustParsePrefix("172.16.0.2/32")
	ta.speaker.best = []bgp.Path{{Prefix: kept, NextHop: via}}
	ta.routeEvents(bgp.BestChange{Prefix: withdrawn, NextHops: []netip.Addr{via}}, bgp.BestChange{Prefix: kept, NextHops: []netip.Addr{via}})
	ta.routeEvents(bgp.BestChange{Prefix: withdrawn})
	reads, syncs := ta.speaker.bestReads, ta.kernel.syncs

	ta.agent.routeChanges.routeGone(withdrawn) // the kernel's report of our own delete
	ta.agent.routePass(t.Context(), &ta.route)
	if ta.speaker.bestReads != reads || ta.kernel.syncs != syncs {
		t.Fatalf("our own deletion made %d full listings and %d full syncs, want none", ta.speaker.bestReads-reads, ta.kernel.syncs-syncs)
	}

	// A hand deletes kept: gone from the table, still in the record.
	ta.kernel.table = slices.DeleteFunc(ta.kernel.table, func(r routes.Route) bool { return r.Prefix == kept })
	ta.agent.routeChanges.routeGone(kept)
	ta.agent.routePass(t.Context(), &ta.route)
	if ta.speaker.bestReads != reads+1 {
		t.Fatalf("a route deleted by hand made %d full listings, want 1", ta.speaker.bestReads-reads)
	}
	if want := []routes.Route{{Prefix: kept, Gateway: via}}; !slices.Equal(ta.kernel.table, want) {
		t.Fatalf("kernel table %v after the full pass, want %v", ta.kernel.table, want)
	}
	// Each full pass is counted with what asked for it.
	_, body := scrapeAgent(t, ta)
	for _, want := range []string{
		`nodebgp_route_full_syncs_total{reason="deleted"} 1`,
		`nodebgp_route_full_syncs_total{reason="period"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(body, "nodebgp_route_full_syncs_total"))
		}
	}
}

// The reasons a full route pass is counted with are the ones /metrics shows
// from the start (at 0).
func TestFullPassReasonsAreTheMetricsLabelValues(t *testing.T) {
	ours := []string{fullStart, fullPeriod, fullLink, fullBurst, fullRecord, fullDeleted, fullConverged}
	if !slices.Equal(ours, health.RouteFullSyncReasons) {
		t.Errorf("the route loop's reasons %v, the metric's %v", ours, health.RouteFullSyncReasons)
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestABurstOfLinkEventsMakesOneFullPassOnceQuiet(t *testing.T) {
	c := newRouteChanges()
	for range 5 {
		c.linkChanged()
		time.Sleep(linkQuiet / 4)
	}
	if _, _, full := c.take(); full != "" {
		t.Fatalf("a full pass was due while link events kept coming")
	}
	time.Sleep(2 * linkQuiet)
	if _, _, full := c.take(); full != fullLink {
		t.Fatalf("no full pass due for a link %s after the last link event", 2*linkQuiet)
	}
	select {
	case <-c.poke:
	default:
		t.Fatalf("the route loop was not woken for the full pass")
	}
}

func TestAPrefixLimitTripIsReportedOncePerTrip(t *testing.T) {
	ta := newTestAgent(t)
	rec := ta.agent.events.(*record.FakeRecorder)
	tor := bgp.PeerStatus{Address: netip.MustParseAddr("10.199.1.1"), ASN: 65100, State: "idle", MaxPrefixes: 100000}
	tripped := tor
	tripped.PrefixLimited = true
	m := ta.agent.health.Metrics()
	observe := func(st bgp.PeerStatus) {
		ta.speaker.sessions = []bgp.PeerStatus{st}
		ta.agent.observePrefixLimits(ta.agent.sessionStates(t.Context()))
	}
	events := func() (out []string) {
		for {
			select {
			case e := <-rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}

	observe(tor)
	observe(tripped)
	observe(tripped)
	if got := events(); len(got) != 1 || !strings.Contains(got[0], "Warning BGPPrefixLimit") || !strings.Contains(got[0], "10.199.1.1") || !strings.Contains(got[0], "100000") ||
		!strings.Contains(got[0], "maxPrefixes in its nodebgp.io/peers entry") || !strings.Contains(got[0], "--peer-router-max-prefixes") {
		t.Fatalf("events after one trip seen twice: %q; want one Warning BGPPrefixLimit naming the peer, its limit and how to raise it", got)
	}
	if g, c := metricValue(t, m.PrefixLimited), metricValue(t, m.PrefixLimitTrips); g != 1 || c != 1 {
		t.Fatalf("nodebgp_bgp_peers_prefix_limited %v, trips %v; want 1, 1", g, c)
	}
	observe(tor) // the limit was raised: the session is back
	observe(tripped)
	if got := events(); len(got) != 1 || metricValue(t, m.PrefixLimitTrips) != 2 {
		t.Fatalf("a second trip: events %q, trips %v; want one more of each", got, metricValue(t, m.PrefixLimitTrips))
	}
	observe(tor)
	if metricValue(t, m.PrefixLimited) != 0 {
		t.Fatalf("nodebgp_bgp_peers_prefix_limited stays up after the session came back")
	}
}

// metricValue reads a gauge's or a counter's value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

func TestABurstIsTakenInBoundedBatchesWithNothingLost(t *testing.T) {
	c := newRouteChanges()
	const n = 2*maxBatch + 7
	burst := make([]bgp.BestChange, 0, n)
	for i := range n {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 32)
		burst = append(burst, bgp.BestChange{Prefix: p, NextHops: []netip.Addr{netip.MustParseAddr("10.199.1.100")}})
	}
	c.add(burst)
	<-c.poke
	seen := map[netip.Prefix]bool{}
	for pass := 0; ; pass++ {
		if pass > 3 {
			t.Fatalf("%d passes for %d changes in batches of %d", pass, n, maxBatch)
		}
		changes, _, full := c.take()
		if full != "" {
			t.Fatalf("pass %d: a full pass for a burst that fits the pending set", pass)
		}
		if len(changes) > maxBatch {
			t.Fatalf("pass %d: %d changes, more than a batch (%d)", pass, len(changes), maxBatch)
		}
		for _, ch := range changes {
			if seen[ch.Prefix] {
				t.Fatalf("pass %d: %s handed over twice", pass, ch.Prefix)
			}
			seen[ch.Prefix] = true
		}
		select {
		case <-c.poke:
			continue
		default:
		}
		break
	}
	if len(seen) != n {
		t.Fatalf("%d of %d changes handed over", len(seen), n)
	}
}

// The route loop takes a few dozen changes a pass during a big install:
// such a pass, or one with no changes, allocates nothing (the two lists are
// reused), also after a burst bigger than a batch, whose list is not held
// once taken.
func TestSmallPassesAllocateNothingAndABurstsListIsNotKept(t *testing.T) {
	c := newRouteChanges()
	hop := []netip.Addr{netip.MustParseAddr("10.199.1.100")}
	batch := func(base, n int) []bgp.BestChange {
		out := make([]bgp.BestChange, 0, n)
		for i := range n {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte((base + i) >> 8), byte(base + i)}), 32)
			out = append(out, bgp.BestChange{Prefix: p, NextHops: hop})
		}
		return out
	}
	small := batch(0, 35)
	pass := func() {
		c.add(small)
		got, _, full := c.take()
		if full != "" || len(got) != len(small) {
			t.Fatalf("a pass of %d changes handed over %d (full pass %q)", len(small), len(got), full)
		}
	}
	for _, before := range []struct {
		name  string
		burst int
	}{{"from the start", 0}, {"after a burst", 2*maxBatch + 5}} {
		c.add(batch(1000, before.burst))
		var burstLists []weak.Pointer[bgp.BestChange]
		if before.burst > 0 {
			for _, b := range append(slices.Clone(c.blocks), c.pending) {
				burstLists = append(burstLists, weak.Make(&b[0]))
			}
		}
		for n := 0; n < before.burst; {
			got, _, _ := c.take()
			if len(got) == 0 {
				t.Fatalf("%s: %d of %d changes handed over, then none", before.name, n, before.burst)
			}
			n += len(got)
		}
		pass()
		pass() // the first two passes may grow the two lists
		passAndWake := func() {
			pass()
			c.take() // a wake-up with no changes (a poke for a deleted route, say)
		}
		if allocs := testing.AllocsPerRun(20, passAndWake); allocs > 0 {
			t.Errorf("%s: a pass of %d changes and an empty one made %.0f allocations; want none", before.name, len(small), allocs)
		}
		runtime.GC()
		for i, l := range burstLists {
			if l.Value() != nil {
				t.Errorf("%s: list %d of the burst's %d is still held after it was taken", before.name, i+1, len(burstLists))
			}
		}
	}
}

// GoBGP's server loop adds the changes of a big withdraw one at a time while
// the route loop falls behind. What the burst allocates is about its
// changes once, in blocks of a batch: it is not copied as it grows, nor when
// a batch of it is taken.
func TestABurstThatOutrunsTheRouteLoopIsNotCopied(t *testing.T) {
	c := newRouteChanges()
	const batches = 8
	withdrawal := func(i int) []bgp.BestChange {
		return []bgp.BestChange{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 32)}}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	taken := 0
	for i := range batches * maxBatch {
		c.add(withdrawal(i))
		if i%(2*maxBatch) == 2*maxBatch-1 { // one batch taken for two added
			got, _, _ := c.take()
			taken += len(got)
		}
	}
	for {
		got, _, _ := c.take()
		if len(got) == 0 {
			break
		}
		taken += len(got)
	}
	runtime.ReadMemStats(&after)
	if taken != batches*maxBatch {
		t.Fatalf("%d of %d changes handed over", taken, batches*maxBatch)
	}
	once := uint64(batches*maxBatch) * uint64(unsafe.Sizeof(bgp.BestChange{}))
	// The changes once, the first block's growth to a batch, and room for
	// the one-change lists this test makes, should they not stay on the
	// stack (they do with Go 1.26: 1.8 MiB in all, 10.1 before blocks).
	limit := once + 2*uint64(maxBatch)*uint64(unsafe.Sizeof(bgp.BestChange{})) + uint64(batches*maxBatch)*64
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("a burst of %d changes allocated %d KiB; want at most %d KiB (its changes once: %d KiB)", batches*maxBatch, got>>10, limit>>10, once>>10)
	}
}

// A prefix that changes twice between passes is handed over twice, in the
// order GoBGP decided: routes.Reconciler.Update applies the later.
func TestAPrefixChangedTwiceIsHandedOverInOrder(t *testing.T) {
	c := newRouteChanges()
	p := netip.MustParsePrefix("10.244.7.0/24")
	first := []netip.Addr{netip.MustParseAddr("10.199.1.11")}
	c.add([]bgp.BestChange{{Prefix: p, NextHops: first}})
	c.add([]bgp.BestChange{{Prefix: p}}) // withdrawn
	got, _, _ := c.take()
	if len(got) != 2 || !slices.Equal(got[0].NextHops, first) || len(got[1].NextHops) != 0 {
		t.Fatalf("handed over %v; want the route via %s, then its withdrawal", got, first[0])
	}
}

func TestAQuietTickLeavesTheSpeakerAloneUntilARoutingFactChangesAndEveryTenthTickIsFull(t *testing.T) {
	ta := newTestAgent(t)
	ta.speaker.best = []bgp.Path{{Prefix: n2CIDR, NextHop: netip.MustParseAddr("10.199.1.12")}}
	ta.speaker.converged = true
	ta.nodePass(t)
	ta.routePass()
	ta.nodePass(t)
	if ta.full.failed {
		t.Fatalf("the node is not steady after two passes (%s): no tick could be quiet", ta.writes())
	}
	secretChanged := false
	ta.secretsChanged = func() bool { return secretChanged }
	tick := func() {
		t.Helper()
		if err := ta.tickPass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	applies := func() int { return ta.speaker.calls }

	steps := []struct {
		name      string
		before    func()
		wantApply bool
	}{
		{"a tick with nothing changed", func() {}, false},
		{"a kubelet heartbeat (no routing fact)", func() {}, false},
		{"a Node added", func() {
			if err := ta.nodes.Add(testNode("n4", "10.199.1.14", "10.244.4.0/24")); err != nil {
				t.Fatal(err)
			}
			ta.nodeFactsChanged()
		}, true},
		{"quiet again after that full pass", func() {}, false},
		{"a rotated password Secret", func() { secretChanged = true }, true},
		{"quiet again", func() { secretChanged = false }, false},
		{"the link MTU changed", func() { ta.host.mtu = 9000 }, true},
	}
	for _, s := range steps {
		s.before()
		n := applies()
		tick()
		if got := applies() > n; got != s.wantApply {
			t.Fatalf("%s: speaker applied %v, want %v", s.name, got, s.wantApply)
		}
	}

	// A quiet tick still repairs the host: a bridge deleted by hand comes back.
	ta.host.bridge = nil
	n := applies()
	tick()
	if ta.host.bridge == nil || applies() != n {
		t.Fatalf("a quiet tick after the bridge was deleted: bridge %v, speaker applied %v; want the bridge back and the speaker left alone", ta.host.bridge, applies() != n)
	}

	// The safety net: however quiet, every fullPassEvery-th tick is full.
	full := 0
	for range 3 * fullPassEvery {
		n := applies()
		tick()
		if applies() > n {
			full++
		}
	}
	if full != 3 {
		t.Fatalf("%d full passes in %d quiet ticks, want 3", full, 3*fullPassEvery)
	}
}
