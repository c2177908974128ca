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
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Speaker is a running GoBGP server. Its methods are safe for concurrent
// use; reconciles (SetPeers, SetAdvertised) run one at a time.
//
// Run one Speaker per process: GoBGP keeps its route-selection options in
// package variables that every StartBgp writes while other servers read
// them.
type Speaker struct {
	cfg    Config
	log    *slog.Logger
	server *server.BgpServer
	peers  peerSettings

	// reconcile serializes SetPeers and SetAdvertised, so that each diff is
	// applied against the state it was computed from.
	reconcile sync.Mutex

	stopOnce sync.Once
	stopped  chan struct{}
}

// New validates cfg, starts GoBGP (its gRPC API too when cfg.APIAddress is
// set) and installs the export policy. The speaker has no peers and
// advertises nothing until SetPeers and SetAdvertised say so.
func New(ctx context.Context, cfg Config) (*Speaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("BGP speaker config: %w", err)
	}
	opts := []server.ServerOption{server.LoggerOption(newGoBGPLogger(cfg.Logger))}
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
		opts = append(opts, server.GrpcListenAddress(cfg.APIAddress))
	}
	s := &Speaker{
		cfg:     cfg,
		log:     cfg.Logger,
		server:  server.NewBgpServer(opts...),
		peers:   newPeerSettings(cfg),
		stopped: make(chan struct{}),
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
	}
	if s.cfg.ListenAddress.IsValid() {
		global.ListenAddresses = []string{s.cfg.ListenAddress.String()}
	}
	if err := s.server.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fmt.Errorf("starting BGP (AS %d, listening on %s): %w", s.cfg.ASN, listenDescription(s.cfg), err)
	}
	// StartBgp initializes GoBGP's routing policy, so the policy comes after.
	for _, set := range ownPrefixSets() {
		if err := s.server.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: set}); err != nil {
			return fmt.Errorf("creating prefix set %s: %w", set.Name, err)
		}
	}
	pol := ownExportPolicy()
	if err := s.server.AddPolicy(ctx, &api.AddPolicyRequest{Policy: pol}); err != nil {
		return fmt.Errorf("creating policy %s: %w", pol.Name, err)
	}
	asg := exportAssignment()
	if err := s.server.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: asg}); err != nil {
		return fmt.Errorf("assigning policy %s to %s %s: %w", pol.Name, asg.Name, asg.Direction, err)
	}
	return nil
}

func listenDescription(cfg Config) string {
	if cfg.ListenPort == -1 {
		return "nothing"
	}
	return net.JoinHostPort(cfg.ListenAddress.String(), fmt.Sprint(cfg.ListenPort))
}
