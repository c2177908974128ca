package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

type config struct {
	routerID, peer, nextHop netip.Addr
	asn, peerASN            uint32
	prefixes                []route
	apiAddr                 string
	batchSize               int
	connectRetry            time.Duration // 0: GoBGP's default
	peerPort                int           // the packed speaker's peer port
}

// apiReadyTimeout bounds the wait for GoBGP's own gRPC API, which it binds
// in the background.
const apiReadyTimeout = 10 * time.Second

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// injector is a GoBGP speaker with one peer and the paths it announces,
// built once up front so that announcing costs only what GoBGP does.
type injector struct {
	cfg    config
	server *server.BgpServer
	conn   *grpc.ClientConn
	client api.GobgpApiClient
	paths  []*api.Path
	// withdrawals are paths with IsWithdraw set, one per path: streaming a
	// slice of them withdraws just those prefixes in one RIB update.
	withdrawals []*api.Path
	cancel      context.CancelFunc
}

func startInjector(ctx context.Context, cfg config, out *lineWriter) (*injector, error) {
	paths, err := buildPaths(cfg.prefixes, cfg.nextHop)
	if err != nil {
		return nil, err
	}
	logger := gobgplog.NewDefaultLogger()
	logger.SetLevel(gobgplog.WarnLevel)
	s := server.NewBgpServer(server.GrpcListenAddress(cfg.apiAddr), server.LoggerOption(logger))
	go s.Serve()
	inj := &injector{cfg: cfg, server: s, paths: paths, withdrawals: withdrawalsOf(paths)}
	watchCtx, cancel := context.WithCancel(context.Background())
	inj.cancel = cancel
	if err := inj.start(ctx, watchCtx, out); err != nil {
		inj.stop()
		return nil, err
	}
	return inj, nil
}

func (inj *injector) start(ctx, watchCtx context.Context, out *lineWriter) error {
	cfg := inj.cfg
	err := inj.server.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             cfg.asn,
		RouterId:        cfg.routerID.String(),
		ListenPort:      179,
		ListenAddresses: []string{cfg.routerID.String()},
	}})
	if err != nil {
		return fmt.Errorf("starting BGP as %s: %w", cfg.routerID, err)
	}
	// Watch before the peer exists, so its first Established is not missed.
	err = inj.server.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		p := r.GetPeer()
		if p.GetType() == api.WatchEventResponse_PeerEvent_STATE && p.GetPeer().GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			out.printf("established")
		}
	})
	if err != nil {
		return fmt.Errorf("watching peer %s: %w", cfg.peer, err)
	}
	peer := &api.Peer{
		Conf:     &api.PeerConf{NeighborAddress: cfg.peer.String(), PeerAsn: cfg.peerASN},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}},
	}
	if cfg.connectRetry > 0 {
		peer.Timers = &api.Timers{Config: &api.TimersConfig{ConnectRetry: uint64(cfg.connectRetry / time.Second)}}
	}
	err = inj.server.AddPeer(ctx, &api.AddPeerRequest{Peer: peer})
	if err != nil {
		return fmt.Errorf("adding peer %s: %w", cfg.peer, err)
	}
	// The gRPC API is this process's own, on the namespace's loopback: it is
	// the only way into GoBGP's batched AddPathStream.
	inj.conn, err = grpc.DialContext(ctx, cfg.apiAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to GoBGP API %s: %w", cfg.apiAddr, err)
	}
	inj.client = api.NewGobgpApiClient(inj.conn)
	// Connect now, so the first announce is not timed with a TCP handshake.
	wctx, cancel := context.WithTimeout(ctx, apiReadyTimeout)
	defer cancel()
	if _, err := inj.client.GetBgp(wctx, &api.GetBgpRequest{}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("GoBGP API %s not answering: %w", cfg.apiAddr, err)
	}
	return nil
}

func buildPaths(routes []route, defaultNextHop netip.Addr) ([]*api.Path, error) {
	origin, err := anypb.New(&api.OriginAttribute{Origin: 0})
	if err != nil {
		return nil, fmt.Errorf("origin attribute: %w", err)
	}
	// One attribute per distinct next hop, shared by its paths.
	nextHops := map[netip.Addr]*anypb.Any{}
	paths := make([]*api.Path, 0, len(routes))
	for _, r := range routes {
		p := r.prefix
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("prefix %s: only IPv4 prefixes are announced", p)
		}
		nextHop := r.nextHop
		if !nextHop.IsValid() {
			nextHop = defaultNextHop
		}
		nh, ok := nextHops[nextHop]
		if !ok {
			if nh, err = anypb.New(&api.NextHopAttribute{NextHop: nextHop.String()}); err != nil {
				return nil, fmt.Errorf("next hop attribute %s: %w", nextHop, err)
			}
			nextHops[nextHop] = nh
		}
		nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
		if err != nil {
			return nil, fmt.Errorf("prefix %s: %w", p, err)
		}
		paths = append(paths, &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}})
	}
	return paths, nil
}

// withdrawalsOf returns a withdrawal for each path.
func withdrawalsOf(paths []*api.Path) []*api.Path {
	out := make([]*api.Path, len(paths))
	for i, p := range paths {
		out[i] = &api.Path{Family: p.Family, Nlri: p.Nlri, Pattrs: p.Pattrs, IsWithdraw: true}
	}
	return out
}

func (inj *injector) count() int { return len(inj.paths) }

// announce streams every path to GoBGP in batches of -batch. GoBGP still
// sends each path in an UPDATE of its own: it hands a peer every path of a
// batch separately (one prefix per UPDATE at 100,000 routes, measured in
// docs/benchmarks.md); -packed is the speaker that packs.
func (inj *injector) announce(ctx context.Context) (int, time.Duration, error) {
	return inj.stream(ctx, inj.paths)
}

// streamRange announces (or, with withdraw, withdraws) the paths that r
// selects, in the same batches as announce.
func (inj *injector) streamRange(ctx context.Context, r pathRange, withdraw bool) (int, time.Duration, error) {
	from := inj.paths
	if withdraw {
		from = inj.withdrawals
	}
	return inj.stream(ctx, pick(r, from))
}

func (inj *injector) stream(ctx context.Context, paths []*api.Path) (int, time.Duration, error) {
	began := time.Now()
	stream, err := inj.client.AddPathStream(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("opening AddPathStream: %w", err)
	}
	for i := 0; i < len(paths); i += inj.cfg.batchSize {
		batch := paths[i:min(i+inj.cfg.batchSize, len(paths))]
		if err := stream.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: batch}); err != nil {
			return 0, 0, fmt.Errorf("sending paths %d..%d: %w", i, i+len(batch)-1, err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return 0, 0, fmt.Errorf("closing AddPathStream: %w", err)
	}
	return len(paths), time.Since(began), nil
}

// withdraw deletes every path this speaker originated in one RIB update.
func (inj *injector) withdraw(ctx context.Context) (int, time.Duration, error) {
	began := time.Now()
	err := inj.server.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast})
	if err != nil {
		return 0, 0, fmt.Errorf("deleting all IPv4 unicast paths: %w", err)
	}
	return len(inj.paths), time.Since(began), nil
}

func (inj *injector) stop() {
	inj.cancel()
	if inj.conn != nil {
		_ = inj.conn.Close()
	}
	inj.server.Stop()
}
