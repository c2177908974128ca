// Command meshpeers stands in for the other nodes of a large full mesh in
// the full-mesh ceiling benchmark (e2e/meshscale): N GoBGP speakers (v3.37.0,
// as the agent embeds) in one process, the i-th on the i-th address of a
// range, each peering (iBGP, passive, as a node with a higher address is)
// with the one agent under test and announcing its own pod CIDR with itself
// as next hop. Run it inside a network namespace that holds the addresses
// (GoBGP's goroutines run on any OS thread, so only a whole process can be
// pinned to a namespace).
//
// It prints "ready n=<N>" once every speaker listens and has its peer and
// path, and runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodebgp/router/e2e/meshscale"
	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshpeers:", err)
		os.Exit(1)
	}
}

type config struct {
	n          int
	first      netip.Addr   // the first speaker's address; the others follow
	podCIDRs   netip.Prefix // the i-th speaker announces the i-th /24 of it, from the second on
	agent      netip.Addr
	asn        uint32
	holdTime   uint64
	keepalive  uint64
	listenPort int32
}

func run(ctx context.Context) error {
	var (
		cfg                  config
		first, pods, agent   string
		asn, hold, keepalive uint
	)
	flag.IntVar(&cfg.n, "n", 100, "number of speakers")
	flag.StringVar(&first, "first", "10.252.1.1", "the first speaker's address; speaker i is at first+i")
	flag.StringVar(&pods, "pod-cidrs", "10.64.0.0/14", "pod CIDR range: speaker i announces its (i+1)-th /24")
	flag.StringVar(&agent, "agent", "10.252.0.1", "the agent every speaker peers with")
	flag.UintVar(&asn, "asn", 64512, "the cluster ASN (iBGP)")
	flag.UintVar(&hold, "hold-time", 90, "hold time, seconds (the agent's --mesh-hold-time default)")
	flag.UintVar(&keepalive, "keepalive", 30, "keepalive, seconds")
	flag.Parse()
	var err error
	if cfg.first, err = netip.ParseAddr(first); err != nil || !cfg.first.Is4() {
		return fmt.Errorf("-first %q: not an IPv4 address", first)
	}
	if cfg.podCIDRs, err = netip.ParsePrefix(pods); err != nil || !cfg.podCIDRs.Addr().Is4() || cfg.podCIDRs.Bits() > 24 {
		return fmt.Errorf("-pod-cidrs %q: not an IPv4 prefix of /24 or shorter", pods)
	}
	if cfg.agent, err = netip.ParseAddr(agent); err != nil {
		return fmt.Errorf("-agent %q: not an address", agent)
	}
	if max := 1 << (24 - cfg.podCIDRs.Bits()); cfg.n < 1 || cfg.n >= max {
		return fmt.Errorf("-n %d: must be 1..%d for -pod-cidrs %s", cfg.n, max-1, cfg.podCIDRs)
	}
	if asn == 0 || asn > 1<<32-1 {
		return fmt.Errorf("-asn %d: an ASN is 1..4294967295", asn)
	}
	cfg.asn, cfg.holdTime, cfg.keepalive, cfg.listenPort = uint32(asn), uint64(hold), uint64(keepalive), 179

	logger := gobgplog.NewDefaultLogger()
	logger.SetLevel(gobgplog.WarnLevel)
	var servers []*server.BgpServer
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	addr := cfg.first
	for i := 0; i < cfg.n; i++ {
		s := server.NewBgpServer(server.LoggerOption(logger))
		go s.Serve()
		servers = append(servers, s)
		if err := startSpeaker(ctx, s, cfg, addr, meshscale.PodCIDR(cfg.podCIDRs, i+1)); err != nil {
			return err
		}
		addr = addr.Next()
	}
	fmt.Printf("ready n=%d\n", cfg.n)
	<-ctx.Done()
	return nil
}

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// startSpeaker starts s at addr, passive towards the agent, announcing pod.
func startSpeaker(ctx context.Context, s *server.BgpServer, cfg config, addr netip.Addr, pod netip.Prefix) error {
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             cfg.asn,
		RouterId:        addr.String(),
		ListenPort:      cfg.listenPort,
		ListenAddresses: []string{addr.String()},
	}})
	if err != nil {
		return fmt.Errorf("speaker %s: starting BGP: %w", addr, err)
	}
	err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: cfg.agent.String(), PeerAsn: cfg.asn},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: addr.String()},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: cfg.holdTime, KeepaliveInterval: cfg.keepalive}},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}},
	}})
	if err != nil {
		return fmt.Errorf("speaker %s: adding peer %s: %w", addr, cfg.agent, err)
	}
	origin, err := anypb.New(&api.OriginAttribute{Origin: 0})
	if err != nil {
		return err
	}
	nh, err := anypb.New(&api.NextHopAttribute{NextHop: addr.String()})
	if err != nil {
		return err
	}
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: pod.Addr().String(), PrefixLen: uint32(pod.Bits())})
	if err != nil {
		return err
	}
	if _, err := s.AddPath(ctx, &api.AddPathRequest{Path: &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}}); err != nil {
		return fmt.Errorf("speaker %s: announcing %s: %w", addr, pod, err)
	}
	return nil
}
