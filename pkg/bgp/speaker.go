// Package bgp is the embedded GoBGP speaker behind a narrow API: the peer
// set, the prefixes this node advertises, the best paths it learned, and
// the export policy that keeps everything else from leaving the node.
//
// It is the only package that imports GoBGP.
package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Speaker is a running GoBGP server. Its methods are safe for concurrent
// use; passes of Apply run one at a time.
//
// Run one Speaker per process: GoBGP keeps its route-selection options in
// package variables that every StartBgp writes while other servers read
// them.
type Speaker struct {
	cfg    Config
	log    *slog.Logger
	server *server.BgpServer
	// gobgp is the same server, seen through the calls Apply makes (see
	// gobgpAPI).
	gobgp  gobgpAPI
	peers  peerSettings
	events *peerEvents
	// md5 is why TCP-MD5 passwords cannot be enforced, nil if they can.
	md5 error
	// restartUntil ends the window in which added sessions announce that
	// we restarted (Config.Restarting); zero when this start is not a
	// restart.
	restartUntil time.Time
	// bestPaths is how many paths the last BestPaths returned: the next
	// one's list starts that big, so that a 100,000-route table is one
	// allocation, not a list grown by doubling (as much again in copies).
	bestPaths atomic.Int64

	// reconcile serializes passes of Apply, so that each diff is applied
	// against the state it was computed from.
	reconcile sync.Mutex
	// policy is the last valid Policy applied (guarded by reconcile): an
	// invalid one leaves it in place.
	policy Policy

	stopOnce sync.Once
	stopped  chan struct{}
}

// New validates cfg, starts GoBGP (its gRPC API too when cfg.APIAddress is
// set) and installs the export policy. The speaker has no peers and
// advertises nothing until Apply says so.
func New(ctx context.Context, cfg Config) (*Speaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("BGP speaker config: %w", err)
	}
	events := newPeerEvents(cfg.OnSessionDown)
	opts := []server.ServerOption{server.LoggerOption(newGoBGPLogger(cfg.Logger, events))}
	if cfg.APIAddress != "" {
		// GoBGP binds the API in the background and treats a failure as
		// fatal; bind once here first, so the error reaches our caller.
		l, err := net.Listen("tcp", cfg.APIAddress)
		if err != nil {
			return nil, fmt.Errorf("BGP speaker config: APIAddress %s: %w", cfg.APIAddress, err)
		}
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("releasing probe listener on %s: %w", cfg.APIAddress, err)
		}
		opts = append(opts, server.GrpcListenAddress(cfg.APIAddress), server.GrpcOption(apiServerOptions(cfg.APIAllowWrites)))
	}
	srv := server.NewBgpServer(opts...)
	s := &Speaker{
		cfg:     cfg,
		log:     cfg.Logger,
		server:  srv,
		gobgp:   srv,
		peers:   newPeerSettings(cfg),
		events:  events,
		stopped: make(chan struct{}),
	}
	if cfg.ListenPort != -1 {
		s.md5 = probeListenerMD5(cfg.ListenAddress)
	}
	if cfg.Restarting {
		s.restartUntil = time.Now().Add(cfg.DeferralTime)
	}
	// Serve is GoBGP's event loop; it has no way to end, see Stop.
	go s.server.Serve()

	if err := s.start(ctx); err != nil {
		s.server.Stop()
		return nil, err
	}
	s.log.Info("BGP speaker started", "event", "started", "asn", cfg.ASN, "router_id", cfg.RouterID,
		"listen", listenDescription(cfg), "api", cfg.APIAddress, "graceful_restart", cfg.GracefulRestart)
	return s, nil
}

func (s *Speaker) start(ctx context.Context) error {
	global := &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: s.cfg.ListenPort,
		// Multipath (see multipath.go): GoBGP then also raises a best-path
		// event when the set of equal paths changes while the best path
		// stays (destination.go:568, server.go:882), so that
		// WatchBestPaths pokes when a second next hop appears or goes.
		UseMultiplePaths: true,
	}
	for _, a := range s.cfg.listenAddresses() {
		global.ListenAddresses = append(global.ListenAddresses, a.String())
	}
	if err := s.server.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fmt.Errorf("starting BGP (AS %d, listening on %s): %w", s.cfg.ASN, listenDescription(s.cfg), err)
	}
	// StartBgp initializes GoBGP's routing policy, so the policy comes
	// after: the safe default of no Policy, no peers and no own prefixes.
	have, err := s.listPolicy(ctx)
	if err == nil {
		_, err = s.syncPolicy(ctx, s.desiredPolicy(Policy{}, nil, nil, nil), have)
	}
	if err != nil {
		return fmt.Errorf("installing the BGP policy: %w", err)
	}
	return nil
}

// gobgpAPI is the part of GoBGP's server that Apply uses to read and change
// policy, peers and paths. It is a seam for tests, which see every call a
// pass makes (a second pass with the same Desired must change nothing); a
// new call here must be sorted into reading or changing there too.
type gobgpAPI interface {
	ListDefinedSet(ctx context.Context, r *api.ListDefinedSetRequest, fn func(*api.DefinedSet)) error
	AddDefinedSet(ctx context.Context, r *api.AddDefinedSetRequest) error
	DeleteDefinedSet(ctx context.Context, r *api.DeleteDefinedSetRequest) error
	ListPolicy(ctx context.Context, r *api.ListPolicyRequest, fn func(*api.Policy)) error
	AddPolicy(ctx context.Context, r *api.AddPolicyRequest) error
	DeletePolicy(ctx context.Context, r *api.DeletePolicyRequest) error
	ListPolicyAssignment(ctx context.Context, r *api.ListPolicyAssignmentRequest, fn func(*api.PolicyAssignment)) error
	SetPolicyAssignment(ctx context.Context, r *api.SetPolicyAssignmentRequest) error
	ListPeer(ctx context.Context, r *api.ListPeerRequest, fn func(*api.Peer)) error
	AddPeer(ctx context.Context, r *api.AddPeerRequest) error
	UpdatePeer(ctx context.Context, r *api.UpdatePeerRequest) (*api.UpdatePeerResponse, error)
	DeletePeer(ctx context.Context, r *api.DeletePeerRequest) error
	ResetPeer(ctx context.Context, r *api.ResetPeerRequest) error
	EnablePeer(ctx context.Context, r *api.EnablePeerRequest) error
	DisablePeer(ctx context.Context, r *api.DisablePeerRequest) error
	ListPath(ctx context.Context, r *api.ListPathRequest, fn func(*api.Destination)) error
	ListLocalPaths(fn func([]server.BestPath)) error
	AddPath(ctx context.Context, r *api.AddPathRequest) (*api.AddPathResponse, error)
	DeletePath(ctx context.Context, r *api.DeletePathRequest) error
}

func listenDescription(cfg Config) string {
	if cfg.ListenPort == -1 {
		return "nothing"
	}
	var out []string
	for _, a := range cfg.listenAddresses() {
		out = append(out, net.JoinHostPort(a.String(), fmt.Sprint(cfg.ListenPort)))
	}
	if len(out) == 0 {
		return net.JoinHostPort("", fmt.Sprint(cfg.ListenPort))
	}
	return strings.Join(out, ",")
}
