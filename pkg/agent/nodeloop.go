package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/plan"
)

// nodeLoop runs a node pass on every Node change, every --routes-sync-period
// and once the first kernel route sync is done (which opens the gate for
// announcing). A tick with nothing changed is a quiet pass (tickPass).
func (a *agent) nodeLoop(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	routesSynced := a.routesSynced
	pass := a.nodePass
	for {
		if err := pass(ctx); err != nil {
			return err
		}
		var waiting <-chan time.Time
		var sessionUp trigger
		if !a.conflistWritten {
			// While the node waits to take pods, a session coming up may
			// be the last one it waits for: a pass at once announces the
			// pod CIDR then, not up to a second later (which was most of a
			// joining node's time from Established to its route in the
			// other nodes' kernels, docs/benchmarks.md "Node-add latency").
			// The second's look stays for --network-ready-timeout.
			sessionUp = a.sessionUp
			waiting = time.After(time.Second)
		}
		pass = a.nodePass
		var why string
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.bfdChanged:
			pass, why = a.bfdPass, "bfd"
		case <-a.servicesChanged:
			pass, why = a.bfdPass, "services"
		case <-waiting:
			why = "waiting-for-sessions"
		case <-sessionUp:
			why = "session-up"
		case <-a.nodeChanged:
			why = "node-changed"
		case <-tick.C:
			pass, why = a.tickPass, "tick"
		case <-routesSynced:
			routesSynced, why = nil, "routes-synced"
		}
		a.log.Debug("node loop woken", "event", "node-pass", "reason", why)
	}
}

// fullPassEvery bounds the quiet ticks in a row: at least every 10th
// --routes-sync-period (5 minutes by default) is a full pass, which
// compares the speaker's peers, policy and paths with the plan and repairs
// any drift there (a peer deleted with the gobgp CLI, say).
const fullPassEvery = 10

// hostSteps is what a quiet pass needs of a plan: the host's part and the
// peers (which it counts). The rest, the policy's prefix sets above all,
// grows with the cluster and is left to the garbage collector.
func hostSteps(p plan.Plan) plan.Plan {
	return plan.Plan{Bridge: p.Bridge, Forwarding: p.Forwarding, Firewall: p.Firewall, Conflist: p.Conflist, Peers: p.Peers}
}

// fullPass is what the last full node pass used and found.
type fullPass struct {
	plan      plan.Plan // hostSteps of its plan
	nodeFacts uint64    // a.nodeFacts before its Nodes were listed
	linkMTU   int       // the link MTU it read (--mtu 0)
	failed    bool      // a step failed, or the node did not take pods yet
	quiet     int       // quiet ticks since
}

// tickPass is a --routes-sync-period tick: a quiet pass when nothing the
// last full pass read has changed (plan.QuietTick), else a full one.
func (a *agent) tickPass(ctx context.Context) error {
	in := plan.TickInputs{
		NodeFactsChanged: a.nodeFacts.Load() != a.full.nodeFacts,
		LastPassFailed:   a.full.failed,
		QuietTicks:       a.full.quiet,
		FullEvery:        fullPassEvery,
	}
	if a.secretsChanged != nil {
		// Read on every tick, as a full pass would: a rotated password
		// is noticed within one period.
		in.SecretsChanged = a.secretsChanged()
	}
	if a.cfg.MTU == 0 {
		mtu, _, err := a.host.LinkMTU(a.self.IP)
		in.LinkMTUChanged = err != nil || mtu != a.full.linkMTU
	}
	if !plan.QuietTick(in) || !a.quietPass(ctx) {
		a.log.Debug("full pass on the tick", "event", "node-pass", "reason", fmt.Sprintf("%+v", in))
		return a.nodePass(ctx)
	}
	a.full.quiet++
	return nil
}

// quietPass repeats the last full pass's host steps (bridge, forwarding,
// firewall, CNI config) and session report with its plan, and leaves the
// speaker alone. It reports false, having changed nothing of the speaker,
// when a step fails or the data plane's readiness would change: that takes
// a full pass, which may have to withdraw or announce.
func (a *agent) quietPass(ctx context.Context) bool {
	p := a.full.plan
	bridgeErr, hostErr := a.applyHost(ctx, p)
	if bridgeErr != nil || hostErr != nil {
		return false
	}
	ready, cniErr := a.applyNetwork(ctx, p)
	return ready && cniErr == nil && a.routesSyncDone() == a.dataPlaneReady
}

// nodePass reads the inputs, plans, applies and reports. Its only error is
// *identityChangedError: the node's annotations want another speaker, so
// this one must end (see runSpeakers).
//
// The apply order is the point of the pass: bridge, forwarding and firewall
// first; the CNI config once the node can route (plan.NetworkReady); the
// speaker last — a pod CIDR is announced only once this node can carry the
// traffic the announcement attracts. Inside the speaker, policy comes before
// peers and peers before paths (bgp.Apply).
func (a *agent) nodePass(ctx context.Context) error {
	start := time.Now()
	defer func() { a.health.Metrics().NodePassDuration.Observe(time.Since(start).Seconds()) }()
	facts := a.nodeFacts.Load()
	p := a.plan(ctx)
	a.reportProblems(p)
	if p.Identity != a.identity {
		// Nothing of this plan is applied: its peers are for the next speaker.
		return &identityChangedError{Node: a.cfg.NodeName, From: a.identity, To: p.Identity}
	}
	a.mesh = p.Mesh

	bridgeErr, hostErr := a.applyHost(ctx, p)
	ready, cniErr := a.applyNetwork(ctx, p)
	dataPlaneReady := ready && cniErr == nil && bridgeErr == nil && a.routesSyncDone()
	a.dataPlaneReady = dataPlaneReady
	bgpOK := a.applyBGP(ctx, p, plan.AdvertisedNow(p.Advertised, dataPlaneReady, a.advertised),
		plan.AdvertisedNow(p.Services, dataPlaneReady, a.advertisedServices))
	a.syncBFD(ctx, p)
	a.noteNodePass(p)
	a.full = fullPass{plan: hostSteps(p), nodeFacts: facts, linkMTU: a.linkMTU,
		failed: !dataPlaneReady || hostErr != nil || !bgpOK}
	return nil
}

// applyHost makes sure of the bridge, forwarding and the firewall rules.
func (a *agent) applyHost(ctx context.Context, p plan.Plan) (bridgeErr, hostErr error) {
	bridgeErr = a.host.EnsureBridge(ctx, p.Bridge)
	a.report("bridge", bridgeErr)
	fwdErr := a.host.EnableForwarding(ctx, p.Forwarding.IPv4, p.Forwarding.IPv6)
	hostErr = errors.Join(fwdErr, a.firewall.Sync(ctx, p.Firewall))
	a.report("firewall", hostErr)
	return bridgeErr, hostErr
}

// applyNetwork reads the sessions and writes the CNI config once the node
// can route (plan.NetworkReady): ready tells whether it can, cniErr whether
// the config is in place.
func (a *agent) applyNetwork(ctx context.Context, p plan.Plan) (ready bool, cniErr error) {
	peers := a.sessionStates(ctx)
	a.observePrefixLimits(peers)
	network := plan.NetworkInputs{
		ConflistWritten: a.conflistWritten,
		RoutesSynced:    a.routesSyncDone(),
		Configured:      len(p.Peers),
		Peers:           peers,
		Waited:          a.now().Sub(a.started),
		Timeout:         a.cfg.NetworkReadyTimeout,
		EverEstablished: a.network.everUp,
	}
	a.network.everUp = a.network.everUp || plan.Established(peers) > 0
	ready, why := plan.NetworkReady(network)
	cniErr = errors.New("not written yet: " + why)
	if ready {
		var changed bool
		changed, cniErr = a.cni.Write(ctx, p.Conflist)
		if changed {
			a.log.Info("wrote CNI config", "event", "cni-config", "dir", a.cfg.CNIConfDir)
		}
		a.report("cni", cniErr)
		a.conflistWritten = a.conflistWritten || cniErr == nil
	}
	a.reportNetwork(ready, why, plan.SessionsLost(network))
	return ready, cniErr
}

// bfdPass is the short pass a BFD failure or recovery, or a Service or
// EndpointSlice change, asks for: plan, and apply the peers and Service
// routes, with the pod CIDRs announced last and nothing of the host
// touched, so a failed session is down (and its routes gone), or a Service
// route announced or withdrawn, in milliseconds, not after the conflist,
// bridge and iptables checks.
func (a *agent) bfdPass(ctx context.Context) error {
	p := a.plan(ctx)
	if p.Identity != a.identity {
		return &identityChangedError{Node: a.cfg.NodeName, From: a.identity, To: p.Identity}
	}
	a.mesh = p.Mesh
	a.reportServiceProblems(p.Problems.Services)
	a.applyBGP(ctx, p, a.advertised, plan.AdvertisedNow(p.Services, a.dataPlaneReady, a.advertisedServices))
	a.syncBFD(ctx, p)
	return nil
}

// plan reads this pass's inputs and builds its plan.
func (a *agent) plan(ctx context.Context) plan.Plan {
	held := a.bfdHeld(ctx)
	in := plan.Inputs{
		Settings: a.cfg.planSettings(),
		Self:     a.self,
		Nodes:    a.nodes.list(),
		Identity: a.identity,
		Password: a.password,
		Mesh:     a.mesh,

		BFDFailed:     held,
		SessionsEnded: a.bfdFailures.redials(a.now(), held),
		Services:      a.refreshServices(),
	}
	if a.cfg.MTU == 0 {
		// Once per pass, so that the conflist and the bridge agree.
		in.LinkMTU, _, in.LinkMTUErr = a.host.LinkMTU(a.self.IP)
		a.linkMTU = in.LinkMTU
	}
	return plan.Build(in)
}

// applyBGP hands the speaker its desired state with advertised as the pod
// paths and services as the Service routes to announce, and reports each
// step.
// It tells whether every step succeeded.
func (a *agent) applyBGP(ctx context.Context, p plan.Plan, advertised, services []bgp.Path) bool {
	return a.applyDesired(ctx, bgp.Desired{Policy: p.Policy, Peers: p.Peers, Advertised: advertised, Services: services, Redial: p.Redial})
}

// applyDesired is applyBGP with the speaker's whole desired state.
func (a *agent) applyDesired(ctx context.Context, d bgp.Desired) bool {
	res := a.speaker.Apply(ctx, d)
	a.advertised = d.Advertised
	a.advertisedServices = d.Services
	a.report("policy", res.Policy)
	a.report("peers", res.Peers)
	a.report("advertise", res.Advertise)
	if res.Policy == nil && res.Peers == nil {
		a.peersApplied.Store(true)
	}
	return res.Policy == nil && res.Peers == nil && res.Advertise == nil
}

// routesSyncDone tells whether the route loop has synced the kernel once.
func (a *agent) routesSyncDone() bool {
	select {
	case <-a.routesSynced:
		return true
	default:
		return false
	}
}

// apiLoop asks the API server whether it answers, at the start and once per
// --routes-sync-period (not per pass: Node events can come by the hundred in
// a big cluster, and the answer would not change). It is not part of the
// node loop: while the node's own link is down the request hangs until its
// 5 s timeout, and a node loop waiting on it would neither hold nor lift a
// BGP session when BFD changes. In bench-failover that left a node whose link
// came back without its hold on the other nodes' sessions: those ended on the
// peers' late Hard Reset instead, and GoBGP sat out its 5 s idle hold before
// dialling again (heals of 6.8 s where 2-3 s is the rule).
func (a *agent) apiLoop(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	for {
		a.checkAPI(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// checkAPI records whether the API server answers. An outage makes the agent
// not ready, never not live: a restart would only lose the routes it protects.
func (a *agent) checkAPI(ctx context.Context) {
	if a.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := a.client.Reachable(ctx)
	if err != nil {
		err = fmt.Errorf("API server: %w", err)
	}
	a.report("api", err)
}

// nodeFactsChanged is the node informer's handler for a Node added,
// deleted or changed in a routing fact: it counts, and pokes the loop.
func (a *agent) nodeFactsChanged() {
	a.nodeFacts.Add(1)
	a.nodeChanged.poke()
}
