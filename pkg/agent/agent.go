// Package agent runs nodebgp's loops on a node: it reads the inputs (the node
// cache, Secrets, the link's MTU), has pkg/plan derive the desired state of a
// pass, applies it to the outside systems in a fixed order (CNI config, host
// network, firewall, BGP speaker, kernel routes) and reports the outcome
// (logs, Events, /readyz, /metrics). It decides nothing itself: decisions
// are the planner's and the packages' that apply them.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/health"
	"github.com/nodebgp/router/pkg/hostnet"
	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/memlimit"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/services"
)

// agent is one speaker's life: the inputs it reads, the outside systems it
// changes, and the little the loops remember between passes. Each loop owns
// its fields; the few that cross loops are channels or atomics.
type agent struct {
	cfg    Config
	log    *slog.Logger
	health *health.Health
	now    func() time.Time

	// The Kubernetes side.
	client   *kubeclient.Client // nil in tests: no API check
	nodes    nodeCache
	password func(peering.SecretRef) (string, error)
	events   eventRecorder
	reports  reports

	// self is this node's facts, fixed at start (see plan.Self).
	self plan.Self
	// identity is the running speaker's AS and cluster ID.
	identity plan.Identity
	// previous is why the speaker before this one ended; nil at the first.
	previous *identityChangedError

	speaker  Speaker
	kernel   KernelRoutes
	host     HostNetwork
	firewall Firewall
	cni      CNIConfig
	// bfd runs the BFD sessions; nil until a peer has BFD on.
	bfd BFD
	// loops is the group the loops run in, for what starts later (BFD).
	loops *errgroup.Group

	// started is when this speaker started: the wait for sessions counts
	// from it.
	started time.Time
	// startedFresh is set when the start found no route of ours in the
	// kernel (freshStart): then no route can be stale, and the route loop
	// prunes from its first pass instead of waiting for the RIB to converge.
	startedFresh bool

	// Node loop state: what the next pass builds on.
	mesh plan.MeshPassword
	// prefixLimited are the peers last seen held down by their prefix
	// limit, so each trip is reported once.
	prefixLimited map[netip.Addr]bool
	advertised    []bgp.Path // what the speaker was last asked to announce
	// advertisedServices are the Service routes it was last asked to
	// announce; dataPlaneReady is the last full pass's verdict, which
	// Service routes wait for like pod CIDRs.
	advertisedServices []bgp.Path
	dataPlaneReady     bool
	problems           problemLog
	// conflistWritten is set once the CNI config exists: from the start
	// after a restart, else once the node can route (plan.NetworkReady).
	conflistWritten bool
	// network is the last reported network state, so that each change is
	// logged and recorded as an Event once.
	network networkState

	// peersApplied is set once the node loop has configured the peer set, so
	// the route loop can tell "no peers yet" from "every peer converged".
	peersApplied atomic.Bool
	nodeChanged  trigger // any Node added, changed or deleted
	sessionUp    trigger // a BGP session reached Established
	// nodeFacts counts the Node events that change a routing fact
	// (nodeFactsChanged); full is what the last full node pass used, so a
	// tick can tell whether anything it read has changed since.
	nodeFacts atomic.Uint64
	full      fullPass
	linkMTU   int // the link MTU the last plan read (--mtu 0)
	// secretsChanged re-reads the password Secrets due for it and tells
	// whether any changed; nil: no Secrets.
	secretsChanged func() bool
	// serviceIndex is what the Services ask of this node, nil while every
	// --advertise-* switch is off; servicesChanged pokes the node loop for
	// a BGP-only pass when a Service or EndpointSlice changes.
	serviceIndex    *services.Index
	serviceSource   services.Source
	servicesChanged trigger
	// bfdFailures are the peers whose BFD failed; bfdChanged pokes the node
	// loop for a BGP-only pass when they change, bfdStateChanged the
	// metrics on any BFD transition.
	bfdFailures     bfdFailures
	bfdChanged      trigger
	bfdStateChanged trigger
	// routesSynced is closed after the first successful kernel route sync:
	// until then the node must not attract traffic by announcing its pod
	// CIDRs.
	routesSynced chan struct{}

	// The reporting loop (reportloop.go): what it publishes, and the
	// node's BGPNodeState writer (nil: no status object).
	reported     reportState
	routerID     netip.Addr
	statusWriter StatusWriter
	// routeChanges is what the route loop has to do next: best-path
	// changes, or a full pass.
	routeChanges *routeChanges
	// kernelRoutes is how many routes of ours the kernel holds, as the
	// last sync found and the updates since changed it (route loop).
	kernelRoutes int
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
	setMemoryTargets(log)
	h := health.New()
	h.Metrics().SetBuildInfo(cfg.Version)

	g, ctx := errgroup.WithContext(ctx)
	if cfg.HealthAddr != "" {
		// Liveness first: a node that waits for the API or for its pod CIDR is
		// alive and must not be restarted by its probe.
		handler := h.Handler()
		if cfg.Profiling {
			handler = health.WithProfiling(handler)
		}
		g.Go(func() error { return health.Serve(ctx, cfg.HealthAddr, handler) })
	}
	g.Go(func() error { return runSpeakers(ctx, cfg, log, h) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// setMemoryTargets has the garbage collector keep the heap closer to what is
// live than Go's default does, and work harder near the container's memory
// limit, before the OOM killer would end the agent (and with it the node's
// BGP sessions).
func setMemoryTargets(log *slog.Logger) {
	percent, source := memlimit.SetGCPercent()
	log.Info("Go heap growth set", "event", "gc-percent", "gogc", percent, "source", source)
	res, err := memlimit.Set()
	if err != nil {
		log.Warn("cannot read the container's memory limit; Go's memory limit left unset", "event", "memory-limit", "reason", err.Error())
		return
	}
	if res.Limit == 0 {
		log.Info("no container memory limit; Go's memory limit left unset", "event", "memory-limit")
		return
	}
	log.Info("Go memory limit set", "event", "memory-limit", "source", res.Source,
		"limit_mib", res.Limit>>20, "container_limit_mib", res.Cgroup>>20)
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
		a := newAgent(cfg, log, h)
		a.previous = previous
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

func newAgent(cfg Config, log *slog.Logger, h *health.Health) *agent {
	return &agent{
		cfg:          cfg,
		log:          log,
		health:       h,
		now:          time.Now,
		host:         &hostnet.Host{},
		cni:          conflistFile{dir: cfg.CNIConfDir},
		nodeChanged:  newTrigger(),
		sessionUp:    newTrigger(),
		routesSynced: make(chan struct{}),
		reported:     reportState{changed: newTrigger()},
		routeChanges: newRouteChanges(),

		bfdChanged:      newTrigger(),
		bfdStateChanged: newTrigger(),
		servicesChanged: newTrigger(),
		serviceIndex:    cfg.newServiceIndex(),
	}
}

// runOnce runs one speaker and the loops around it until ctx ends or a loop
// fails, and returns once the speaker's sockets are closed.
func (a *agent) runOnce(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.start(ctx, g) })
	err := g.Wait()
	if a.speaker != nil {
		// Also triggered by the context; Stop runs once and waits for it.
		a.speaker.Stop()
	}
	return err
}
