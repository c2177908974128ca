package agent

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/kubewatch"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/nodestream"
	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/podcidr"
	"github.com/nodebgp/router/pkg/routes"
	"github.com/nodebgp/router/pkg/slimnode"
)

// start connects to the API, waits for this node's facts, starts the speaker
// with the peers of the first plan, and starts the loops in g.
func (a *agent) start(ctx context.Context, g *errgroup.Group) error {
	a.loops = g
	if err := a.connect(ctx); err != nil {
		return err
	}
	self, err := a.waitSelf(ctx)
	if err != nil {
		return err
	}
	a.self = self
	first := a.plan(ctx)
	a.identity = first.Identity
	a.reportProblems(first)
	if a.previous != nil {
		a.recordSpeakerRestart()
	}
	speaker, err := a.startSpeaker(ctx)
	if err != nil {
		return err
	}
	a.speaker = speaker
	a.started = a.now()
	if a.conflistWritten, err = a.cni.Exists(); err != nil {
		a.log.Warn("cannot tell whether the CNI config exists; waiting for the network as on a fresh node", "event", "cni-config", "reason", err.Error())
	}
	// A planned stop must not tell peers to drop our routes: Stop closes
	// without a Cease so that graceful-restart helpers keep them until we
	// are back.
	context.AfterFunc(ctx, speaker.Stop)
	a.kernel = routes.NewReconciler(routes.ReconcilerParams{Logger: a.log.With("component", "routes")})
	// Peers first, before anything else: a peer that reconnects to a
	// listener without a matching neighbor is refused, and a
	// graceful-restart helper then drops the routes it was keeping for us.
	// Nothing is announced yet: the node cannot carry traffic before the
	// node loop has built its data plane.
	a.applyFirstPeers(ctx, first)
	a.report("bgp", nil)
	a.syncBFD(ctx, first)

	fw, err := firewall.New(firewall.Params{Logger: a.log.With("component", "firewall")})
	if err != nil {
		return fmt.Errorf("setting up iptables: %w", err)
	}
	a.firewall = fw

	// Best-path changes are applied one by one; a link change can make any
	// next hop reachable or not, so it takes a full pass (once the links
	// are quiet).
	g.Go(func() error { return a.speaker.WatchBestPaths(ctx, a.routeChanges.add) })
	g.Go(func() error {
		return a.host.WatchLinks(ctx, a.routeChanges.linkChanged, a.routeChanges.routeGone, a.kernel.WriterPort)
	})
	// A node waiting for its sessions before it takes pods looks again as
	// soon as one comes up (nodeLoop).
	g.Go(func() error { return a.speaker.WatchSessionsUp(ctx, a.sessionUp.poke) })
	g.Go(func() error { return a.routeLoop(ctx) })
	g.Go(func() error { return a.nodeLoop(ctx) })
	g.Go(func() error { return a.apiLoop(ctx) })
	// Last: reporting never comes before routing.
	g.Go(func() error { return a.reportLoop(ctx) })
	if a.cfg.StatusObject {
		if err := a.startStatus(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// connect starts the node informer and the API clients, and waits for the
// node cache.
func (a *agent) connect(ctx context.Context) error {
	client, err := newClient(a.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	a.client = client
	secrets := newSecretCache(client.Secret, a.cfg.RoutesSyncPeriod)
	a.password, a.secretsChanged = secrets.password, secrets.refreshDue
	events := a.newEventRecorder(client)
	a.events = events
	a.loops.Go(func() error { events.Run(ctx); return nil })

	// The node watch goes through kubewatch: after an API outage it resumes
	// within seconds of the API's return, not on client-go's 30-60 s back-off.
	// nodestream decodes each Node straight into the fields the agent reads
	// (slimnode.Node): the cache holds nothing else of a Node.
	nodeInformer := cache.NewSharedIndexInformer(kubewatch.New(kubewatch.Params{
		LW:          nodestream.NewListWatch(client.Core),
		Unreachable: func(err error) { a.report("api", fmt.Errorf("watching nodes: %w", err)) },
		Reachable:   func() { a.report("api", nil) },
	}), &slimnode.Node{}, 0, cache.Indexers{})
	a.nodes = nodeCache{store: nodeInformer.GetStore()}
	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { a.nodeFactsChanged() },
		UpdateFunc: func(old, cur any) {
			if routingFactsChanged(old, cur) {
				a.nodeFactsChanged()
			}
		},
		DeleteFunc: func(any) { a.nodeFactsChanged() },
	}); err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	var forbidden string
	if err := nodeInformer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		err = fmt.Errorf("watching nodes: %w", err)
		a.report("api", err)
		if apierrors.IsForbidden(err) && err.Error() != forbidden {
			// Once per cause: the informer retries with back-off.
			forbidden = err.Error()
			a.nodeRefEvent(corev1.EventTypeWarning, reasonForbidden, err.Error()+"; the agent's ClusterRole (daemonset/base) must allow get, list and watch on nodes")
		}
	}); err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	a.loops.Go(func() error { nodeInformer.RunWithContext(ctx); return nil })
	var serviceSynced []cache.InformerSynced
	if a.serviceIndex != nil {
		if serviceSynced, err = a.watchServices(ctx, client); err != nil {
			return err
		}
	}
	a.log.Info("waiting for the node cache", "event", "start")
	if !cache.WaitForCacheSync(ctx.Done(), nodeInformer.HasSynced) {
		return ctx.Err()
	}
	a.report("api", nil)
	if len(serviceSynced) > 0 {
		// Bounded: Services that cannot be read (a ClusterRole without
		// them, say) must not keep the node from routing pods. Until the
		// caches fill, Services are announced as their events arrive.
		wait, cancel := context.WithTimeout(ctx, serviceCacheWait)
		defer cancel()
		if !cache.WaitForCacheSync(wait.Done(), serviceSynced...) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Warn("Service caches not synced; starting without them", "event", "start", "waited", serviceCacheWait.String())
		}
	}
	return nil
}

// serviceCacheWait bounds the wait for the Service and EndpointSlice
// caches at start.
const serviceCacheWait = 10 * time.Second

// waitSelf waits until this node's Node object has a pod CIDR and an
// InternalIP: the controller manager allocates the one and kubelet sets the
// other shortly after registration, and the agent can do nothing without.
func (a *agent) waitSelf(ctx context.Context) (plan.Self, error) {
	cidrs, err := podcidr.Wait(ctx, podcidr.WaitParams{
		NodeName: a.cfg.NodeName,
		Get:      a.ownNode,
		Notify:   a.nodeChanged,
		LogEvery: 5 * time.Second,
		Logger:   a.log,
		Waiting: func(reason string) {
			a.nodeRefEvent(corev1.EventTypeWarning, reasonNoPodCIDR, "no pod CIDR to route yet ("+reason+"): the node stays out of service until kube-controller-manager allocates one (--allocate-node-cidrs with --cluster-cidr) or spec.podCIDRs is set")
		},
	})
	if err != nil {
		return plan.Self{}, err
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if n := a.ownNode(); n != nil {
			info, err := nodeinfo.FromNode(n)
			if err == nil {
				self := plan.SelfFrom(info, cidrs)
				a.log.Info("node facts", "event", "start", "node_ip", self.IP, "node_ip6", self.IP6, "pod_cidrs", fmt.Sprint(cidrs))
				return self, nil
			}
			a.log.Warn("waiting for the node's InternalIP", "event", "wait", "reason", err.Error())
		}
		select {
		case <-ctx.Done():
			return plan.Self{}, ctx.Err()
		case <-a.nodeChanged:
		case <-tick.C:
		}
	}
}

// startSpeaker starts GoBGP with this speaker's identity.
func (a *agent) startSpeaker(ctx context.Context) (*bgp.Speaker, error) {
	routerID, err := plan.RouterID(a.cfg.RouterID, a.self, a.cfg.NodeName)
	if err != nil {
		return nil, err
	}
	s, err := bgp.New(ctx, bgp.Config{
		ASN:                     a.identity.ASN,
		RouterID:                routerID,
		ListenAddress:           a.self.IP,
		ListenAddress6:          a.self.IP6,
		ListenPort:              a.cfg.BGPPort,
		APIAddress:              a.cfg.GoBGPAPIAddress,
		APIAllowWrites:          a.cfg.GoBGPAPIAllowWrites,
		GracefulRestart:         a.cfg.GracefulRestart,
		RestartTime:             a.cfg.RestartTime,
		Restarting:              a.isRestart(),
		DeferralTime:            a.cfg.DeferralTime,
		RouteReflectorClusterID: a.identity.ClusterID,
		Logger:                  a.log.With("component", "bgp"),
		OnSessionDown:           a.onSessionDown,
	})
	if err != nil {
		return nil, fmt.Errorf("starting BGP: %w", err)
	}
	a.routerID = routerID
	return s, nil
}

// applyFirstPeers is the start's first apply: policy and peers, nothing
// announced. On a fresh start (freshStart) the peers it adds make their
// first connection attempt at once, passive ones too (bgp.Desired.
// FirstAttemptAtOnce): the other nodes have had this node configured since
// its Node object appeared and wait for it, so a joining node's sessions
// come up in milliseconds, not after GoBGP's 1-2 s first-dial wait or, where
// a peer of lower IP dials and its dial came before this agent listened,
// its connect retry of 5-10 s (docs/benchmarks.md "Node-add latency").
// Every later attempt, and every peer a later pass adds, is GoBGP's as
// usual: one dialer per pair (docs/peering.md "Designs").
func (a *agent) applyFirstPeers(ctx context.Context, first plan.Plan) {
	a.startedFresh = a.freshStart()
	if a.startedFresh {
		a.log.Info("fresh start: no route of ours in the kernel, so the first connection attempt to each peer goes out at once and no route can be stale", "event", "start")
	}
	a.applyDesired(ctx, bgp.Desired{Policy: first.Policy, Peers: first.Peers, Redial: first.Redial, FirstAttemptAtOnce: a.startedFresh})
}

// freshStart tells a node's first start from an agent restart by our routes
// in the kernel. After a restart (a rolling update, a crash) graceful
// restart has kept them there, and the peers sit out GoBGP's 5 s idle hold
// after the drop: they would close an early attempt, and that would put our
// neighbor in its idle hold too. On a new or rebooted node there are none.
// A speaker restarted in place (runSpeakers) and a kernel that cannot tell
// count as a restart: the stock behaviour.
func (a *agent) freshStart() bool {
	if a.previous != nil {
		return false
	}
	ours, err := a.kernel.AnyOurs()
	if err != nil {
		a.log.Warn("cannot tell a fresh start from a restart; connecting to the peers as after a restart", "event", "start", "reason", err.Error())
		return false
	}
	return !ours
}

// isRestart tells a restart of the agent from a fresh start: our bridge
// survives an agent restart but not a reboot. Only after a restart do peers
// still hold our routes and the kernel still forward for us, so only then may
// the speaker announce itself as restarting (graceful restart's R and F bits).
func (a *agent) isRestart() bool {
	if !a.cfg.GracefulRestart {
		return false
	}
	exists, err := a.host.BridgeExists(a.cfg.CNIBridge)
	if err != nil || !exists {
		return false
	}
	a.log.Info("restart detected: the data plane survived; peers are asked to keep our routes", "event", "restart")
	return true
}

// ownNode returns this node's Node object from the cache, nil if it does not exist.
func (a *agent) ownNode() *slimnode.Node {
	return a.nodes.get(a.cfg.NodeName)
}
