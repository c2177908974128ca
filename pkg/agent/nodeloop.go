package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/plan"
)

// nodeLoop runs a node pass on every Node change, every --routes-sync-period
// and once the first kernel route sync is done (which opens the gate for
// announcing).
func (a *agent) nodeLoop(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.RoutesSyncPeriod)
	defer tick.Stop()
	routesSynced := a.routesSynced
	full := true
	for {
		pass := a.nodePass
		if !full {
			pass = a.bfdPass
		}
		if err := pass(ctx); err != nil {
			return err
		}
		var waiting <-chan time.Time
		if !a.conflistWritten {
			// Nothing pokes the loop when a session comes up: look again
			// soon while the node waits to take pods.
			waiting = time.After(time.Second)
		}
		full = true
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.bfdChanged:
			full = false
		case <-a.servicesChanged:
			full = false
		case <-waiting:
		case <-a.nodeChanged:
		case <-tick.C:
		case <-routesSynced:
			routesSynced = nil
		}
	}
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
	p, err := a.plan(ctx)
	if err != nil {
		a.report("api", err)
		return nil
	}
	a.reportProblems(p)
	if p.Identity != a.identity {
		// Nothing of this plan is applied: its peers are for the next speaker.
		return &identityChangedError{Node: a.cfg.NodeName, From: a.identity, To: p.Identity}
	}
	a.mesh = p.Mesh

	bridgeErr := a.host.EnsureBridge(ctx, p.Bridge)
	a.report("bridge", bridgeErr)
	fwdErr := a.host.EnableForwarding(ctx, p.Forwarding.IPv4, p.Forwarding.IPv6)
	a.report("firewall", errors.Join(fwdErr, a.firewall.Sync(ctx, p.Firewall)))

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
	cniErr := errors.New("not written yet: " + why)
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

	dataPlaneReady := cniErr == nil && bridgeErr == nil && a.routesSyncDone()
	a.dataPlaneReady = dataPlaneReady
	a.applyBGP(ctx, p, plan.AdvertisedNow(p.Advertised, dataPlaneReady, a.advertised),
		plan.AdvertisedNow(p.Services, dataPlaneReady, a.advertisedServices))
	a.syncBFD(ctx, p)
	a.noteNodePass(p)
	return nil
}

// bfdPass is the short pass a BFD failure or recovery, or a Service or
// EndpointSlice change, asks for: plan, and apply the peers and Service
// routes, with the pod CIDRs announced last and nothing of the host
// touched, so a failed session is down (and its routes gone), or a Service
// route announced or withdrawn, in milliseconds, not after the conflist,
// bridge and iptables checks.
func (a *agent) bfdPass(ctx context.Context) error {
	p, err := a.plan(ctx)
	if err != nil {
		a.report("api", err)
		return nil
	}
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
func (a *agent) plan(ctx context.Context) (plan.Plan, error) {
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return plan.Plan{}, fmt.Errorf("listing nodes: %w", err)
	}
	in := plan.Inputs{
		Settings: a.cfg.planSettings(),
		Self:     a.self,
		Nodes:    nodes,
		Identity: a.identity,
		Password: a.password,
		Mesh:     a.mesh,

		BFDFailed: a.bfdHeld(ctx),
		Services:  a.refreshServices(),
	}
	if a.cfg.MTU == 0 {
		// Once per pass, so that the conflist and the bridge agree.
		in.LinkMTU, _, in.LinkMTUErr = a.host.LinkMTU(a.self.IP)
	}
	return plan.Build(in), nil
}

// applyBGP hands the speaker its desired state with advertised as the pod
// paths and services as the Service routes to announce, and reports each
// step.
func (a *agent) applyBGP(ctx context.Context, p plan.Plan, advertised, services []bgp.Path) {
	res := a.speaker.Apply(ctx, bgp.Desired{Policy: p.Policy, Peers: p.Peers, Advertised: advertised, Services: services})
	a.advertised = advertised
	a.advertisedServices = services
	a.report("policy", res.Policy)
	a.report("peers", res.Peers)
	a.report("advertise", res.Advertise)
	if res.Policy == nil && res.Peers == nil {
		a.peersApplied.Store(true)
	}
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
	_, err := a.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		err = fmt.Errorf("API server: %w", err)
	}
	a.report("api", err)
}
