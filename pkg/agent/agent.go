// Package agent is nodebgp's composition root: it connects the node informer to
// the reconcilers (CNI config, bridge, firewall, BGP peers and paths, kernel
// routes) and runs them until the context ends. It decides nothing about BGP or
// the kernel itself; the packages it wires do.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/health"
	"github.com/nodebgp/router/pkg/nodeinfo"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/podcidr"
	"github.com/nodebgp/router/pkg/routes"
)

// agent holds the clients and the state shared by the loops. Each loop owns its
// own fields; the few that cross loops are channels or set before the loops start.
type agent struct {
	cfg    Config
	log    *slog.Logger
	health *health.Health

	client  kubernetes.Interface
	nodes   corelisters.NodeLister
	secrets *secretCache
	events  record.EventRecorder
	reports reports

	// Known once this node's Node object has an InternalIP and a pod CIDR.
	nodeIP netip.Addr
	// nodeIP6 is the node's IPv6 InternalIP on a dual-stack node (nodeIP
	// is then the IPv4 one): it carries the IPv6 sessions and is the next
	// hop of the IPv6 pod CIDRs. Invalid on a single-stack node.
	nodeIP6      netip.Addr
	initialCIDRs []netip.Prefix
	// identity is the speaker's AS and cluster ID, fixed at its start.
	identity speakerIdentity
	// previous is why the speaker before this one ended; nil at the first.
	previous *identityChangedError

	// The mesh password last read from --mesh-password-secret (node loop).
	lastMeshPassword string
	meshPasswordRead bool

	// peersApplied is set once the node loop has configured the peer set, so
	// the route loop can tell "no peers yet" from "every peer converged".
	peersApplied atomic.Bool

	speaker  *bgp.Speaker
	kernel   *routes.Reconciler
	firewall *firewall.Firewall

	nodeChanged trigger // any Node added, changed or deleted
	// routesSynced is closed after the first kernel route sync: until then the
	// node must not attract traffic by announcing its pod CIDRs.
	routesSynced chan struct{}

	// advertised is what the node loop last asked the speaker to advertise
	// with the advertisement gate open (see reconcileNode).
	advertised []bgp.Path
}

// Run runs the agent until ctx ends. On a planned stop it leaves routes, rules
// and the CNI config in place: the data plane outlives the agent.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.NodeName)
	h := health.New()

	g, ctx := errgroup.WithContext(ctx)
	if cfg.HealthAddr != "" {
		// Liveness first: a node that waits for the API or for its pod CIDR is
		// alive and must not be restarted by its probe.
		g.Go(func() error { return health.Serve(ctx, cfg.HealthAddr, h.Handler()) })
	}
	g.Go(func() error { return runSpeakers(ctx, cfg, log, h) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// runSpeakers runs the agent with one BGP speaker after another: an
// annotation that changes the node's AS or reflector cluster ID ends the
// running one, and the next starts in its place the way a restarted agent
// does — closed without a Cease, so peers keep our routes as graceful-restart
// helpers; the kernel keeps its routes until the new speaker has converged.
// The pod is not restarted, so the kubelet's back-off never applies.
func runSpeakers(ctx context.Context, cfg Config, log *slog.Logger, h *health.Health) error {
	var previous *identityChangedError
	for {
		a := &agent{
			cfg:          cfg,
			log:          log,
			health:       h,
			nodeChanged:  newTrigger(),
			routesSynced: make(chan struct{}),
			previous:     previous,
		}
		if previous != nil {
			a.identity = previous.To
		}
		err := a.runOnce(ctx)
		if !errors.As(err, &previous) {
			return err
		}
		log.Info("restarting the BGP speaker in place", "event", "speaker-restart", "reason", previous.Error())
	}
}

// runOnce runs one speaker and the loops around it until ctx ends or a loop
// fails, and returns once the speaker's sockets are closed.
func (a *agent) runOnce(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.run(ctx, g) })
	err := g.Wait()
	if a.speaker != nil {
		// Also triggered by the context; Stop runs once and waits for it.
		a.speaker.Stop()
	}
	return err
}

func (a *agent) run(ctx context.Context, g *errgroup.Group) error {
	client, err := newClient(a.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	a.client = client
	a.secrets = newSecretCache(client, a.cfg.RoutesSyncPeriod)
	events, stopEvents := newEventRecorder(client, a.cfg.NodeName)
	a.events = events
	context.AfterFunc(ctx, stopEvents)

	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInformer := factory.Core().V1().Nodes()
	a.nodes = nodeInformer.Lister()
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { a.nodeChanged.poke() },
		UpdateFunc: func(old, cur any) {
			if routingFactsChanged(old, cur) {
				a.nodeChanged.poke()
			}
		},
		DeleteFunc: func(any) { a.nodeChanged.poke() },
	}); err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	if err := nodeInformer.Informer().SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		a.report("api", fmt.Errorf("watching nodes: %w", err))
	}); err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	factory.Start(ctx.Done())
	a.log.Info("waiting for the node cache", "event", "start")
	if !cache.WaitForCacheSync(ctx.Done(), nodeInformer.Informer().HasSynced) {
		return ctx.Err()
	}
	a.report("api", nil)

	ownCIDRs, err := podcidr.Wait(ctx, podcidr.WaitParams{
		NodeName: a.cfg.NodeName,
		Get:      a.ownNode,
		Notify:   a.nodeChanged,
		LogEvery: 5 * time.Second,
		Logger:   a.log,
	})
	if err != nil {
		return err
	}
	self, err := a.waitNodeIP(ctx)
	if err != nil {
		return err
	}
	a.nodeIP = self.InternalIP
	a.nodeIP6 = secondIPv6(self)
	a.initialCIDRs = ownCIDRs
	routerID := a.cfg.RouterID
	if !routerID.IsValid() {
		routerID = self.InternalIP
		if !routerID.Is4() {
			return fmt.Errorf("node %q: no IPv4 InternalIP to use as the BGP router ID; set --router-id", a.cfg.NodeName)
		}
	}
	a.log.Info("node facts", "event", "start", "nodeIP", a.nodeIP, "nodeIP6", a.nodeIP6, "routerID", routerID, "podCIDRs", fmt.Sprint(ownCIDRs))

	// The node's own ASN and route-reflector role are fixed for the life of
	// the speaker (GoBGP cannot change them on a running server); the node
	// loop ends this speaker when an annotation changes them.
	selfNode, _ := a.ownNode()
	selfConfig, selfProblems := peering.ParseNodeConfig(selfNode)
	a.identity = wantIdentity(selfConfig, selfProblems, a.cfg.ClusterASN, a.identity)
	if a.previous != nil {
		a.recordSpeakerRestart(selfNode)
	}
	restarting := a.isRestart()
	a.speaker, err = bgp.New(ctx, bgp.Config{
		ASN:                     a.identity.ASN,
		RouterID:                routerID,
		ListenAddress:           a.nodeIP,
		ListenAddress6:          a.nodeIP6,
		ListenPort:              a.cfg.BGPPort,
		APIAddress:              a.cfg.GoBGPAPIAddress,
		APIAllowWrites:          a.cfg.GoBGPAPIAllowWrites,
		GracefulRestart:         a.cfg.GracefulRestart,
		RestartTime:             a.cfg.RestartTime,
		Restarting:              restarting,
		DeferralTime:            a.cfg.DeferralTime,
		RouteReflectorClusterID: a.identity.ClusterID,
		Logger:                  a.log.With("component", "bgp"),
	})
	if err != nil {
		return fmt.Errorf("starting BGP: %w", err)
	}
	// Peers first, before anything else: a peer that reconnects to a
	// listener without a matching neighbor is refused, and a graceful-restart
	// helper then drops the routes it was keeping for us.
	all, err := a.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	infos, _ := nodeinfo.Cluster(all)
	plan := a.planPeers(all, infos)
	// Policy and peers only: at start nothing is advertised yet, which is
	// correct — the node loop announces our pod CIDRs once the node can carry
	// their traffic.
	res := a.speaker.Apply(ctx, bgp.Desired{Policy: plan.policy, Peers: plan.peers})
	a.report("policy", res.Policy)
	a.report("peers", res.Peers)
	a.report("bgp", nil)
	// A planned stop must not tell peers to drop our routes: Stop closes without
	// a Cease so that graceful-restart helpers keep them until we are back.
	context.AfterFunc(ctx, a.speaker.Stop)

	a.kernel = routes.NewReconciler(routes.ReconcilerParams{Logger: a.log.With("component", "routes")})
	a.firewall, err = firewall.New(firewall.Params{Logger: a.log.With("component", "firewall")})
	if err != nil {
		return fmt.Errorf("setting up iptables: %w", err)
	}

	routesChanged := newTrigger()
	g.Go(func() error { return a.speaker.WatchBestPaths(ctx, routesChanged.poke) })
	g.Go(func() error { return routes.WatchLinks(ctx, routesChanged.poke) })
	g.Go(func() error { return a.routeLoop(ctx, routesChanged) })
	g.Go(func() error { return a.nodeLoop(ctx) })
	return nil
}

// secondIPv6 is the node's first IPv6 InternalIP when its node IP is IPv4
// (a dual-stack node), else invalid: an IPv6-only node's one address is
// already its node IP.
func secondIPv6(self nodeinfo.Info) netip.Addr {
	if !self.InternalIP.Is4() {
		return netip.Addr{}
	}
	for _, ip := range self.InternalIPs {
		if ip.Is6() && !ip.Is4In6() {
			return ip
		}
	}
	return netip.Addr{}
}

// isRestart tells a restart of the agent from a fresh start: our bridge
// survives an agent restart but not a reboot. Only after a restart do peers
// still hold our routes and the kernel still forward for us, so only then may
// the speaker announce itself as restarting (graceful restart's R and F bits).
func (a *agent) isRestart() bool {
	if !a.cfg.GracefulRestart {
		return false
	}
	exists, err := routes.BridgeExists(a.cfg.CNIBridge)
	if err != nil || !exists {
		return false
	}
	a.log.Info("restart detected: the data plane survived; peers are asked to keep our routes", "event", "restart")
	return true
}

// ownNode returns this node's Node object from the cache, nil if it does not exist.
func (a *agent) ownNode() (*corev1.Node, error) {
	n, err := a.nodes.Get(a.cfg.NodeName)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return n, nil
}

// waitNodeIP waits until this node's Node object has an InternalIP: kubelet sets
// it shortly after registration, and the agent cannot peer without it.
func (a *agent) waitNodeIP(ctx context.Context) (nodeinfo.Info, error) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		n, err := a.ownNode()
		if err == nil && n != nil {
			info, ierr := nodeinfo.FromNode(n)
			if ierr == nil {
				return info, nil
			}
			err = ierr
		}
		if err != nil {
			a.log.Warn("waiting for the node's InternalIP", "event", "wait", "reason", err.Error())
		}
		select {
		case <-ctx.Done():
			return nodeinfo.Info{}, ctx.Err()
		case <-a.nodeChanged:
		case <-tick.C:
		}
	}
}
