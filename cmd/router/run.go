package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodebgp/router/pkg/agent"
	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/peering"
)

// runFlags holds `router run`'s flags; toConfig turns them into agent.Config.
type runFlags struct {
	cfg       agent.Config
	logLevel  string
	logFormat string

	// Upstream peers, parsed together by peering.ParseGlobalPeers so that
	// errors can name the flag and index.
	peerIPs, peerASNs, peerPorts, peerMultihopTTLs []string
	peerPasswordSecret                             string
	meshPasswordSecret                             string
	peerBFD                                        []string
	bfdMultiplier                                  int
}

func newRunCommand() *cobra.Command { return newRunCommandFor(defaultRunFlags()) }

func defaultRunFlags() *runFlags {
	return &runFlags{cfg: agent.Config{
		ClusterASN:          64512,
		BGPPort:             179,
		GoBGPAPIAddress:     "127.0.0.1:50051",
		GracefulRestart:     true,
		EnableIBGP:          true,
		RestartTime:         120 * time.Second,
		DeferralTime:        30 * time.Second,
		CNIConfDir:          "/etc/cni/net.d",
		CNIBridge:           "nodebgp0",
		Masquerade:          true,
		RoutesSyncPeriod:    30 * time.Second,
		NetworkReadyTimeout: 30 * time.Second,
		HealthAddr:          ":9779",
		StatusObject:        true,
		UpstreamMaxPrefixes: bgp.DefaultUpstreamMaxPrefixes,
		BFDTimers:           bfd.DefaultTimers,
	}, bfdMultiplier: int(bfd.DefaultTimers.Multiplier)}
}

// newRunCommandFor binds the flags to f, so tests can read what was parsed.
func newRunCommandFor(f *runFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent on this node (what the DaemonSet runs)",
		Long: `Run the agent on this node until SIGTERM.

It waits for the node's pod CIDR (spec.podCIDRs), peers with every other node over iBGP,
keeps the kernel's routes equal to the best paths it learned, and writes the CNI config (which
makes the kubelet report the node Ready) once those routes are in and its BGP sessions are up
(at most --network-ready-timeout). It announces the node's pod CIDRs from then on. On SIGTERM it stops and
leaves routes, iptables rules and the CNI config in place, so pods keep talking while it
restarts. Use 'router cleanup' to remove everything it made.`,
		Example: `  # on a node, outside the cluster (in a pod, the ServiceAccount is used):
  router run --kubeconfig /etc/kubernetes/kubelet.conf --cluster-cidr 10.244.0.0/16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.toConfig()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return agent.Run(ctx, cfg)
		},
	}
	fl := cmd.Flags()
	c := &f.cfg
	fl.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty = in-cluster ServiceAccount")
	fl.StringVar(&c.NodeName, "hostname-override", "", "this node's name in Kubernetes (default: env NODE_NAME, else the hostname)")
	fl.Var(asnValue{&c.ClusterASN}, "cluster-asn", "the ASN every node uses for the iBGP mesh")
	fl.Var(addrValue{&c.RouterID}, "router-id", "BGP router ID (default: the node's IPv4 InternalIP)")
	fl.Int32Var(&c.BGPPort, "bgp-port", c.BGPPort, "TCP port BGP listens on, on the node IP only, and connects to on peers")
	fl.StringVar(&c.GoBGPAPIAddress, "gobgp-api-address", c.GoBGPAPIAddress, "where GoBGP's gRPC API listens, for the gobgp CLI; keep it on loopback; empty = off")
	fl.BoolVar(&c.GoBGPAPIAllowWrites, "gobgp-api-allow-writes", false, "let the API change the speaker (gobgp global rib add, neighbor reset, ...); off, it only reads, because every hostNetwork pod on the node can reach it")
	fl.BoolVar(&c.GracefulRestart, "bgp-graceful-restart", c.GracefulRestart, "BGP graceful restart: peers keep our routes while the agent restarts, and we keep theirs")
	fl.Var(positiveDuration{&c.RestartTime}, "bgp-restart-time", "how long peers keep our routes while we restart, and how long we keep a restarting peer's routes")
	fl.Var(positiveDuration{&c.DeferralTime}, "bgp-deferral-time", "after a restart, how long to wait for every peer's End-of-RIB before announcing our routes again (bounded so a peer that never sends one, e.g. for a family it does not use, cannot hold us for long)")
	fl.BoolVar(&c.EnableIBGP, "enable-ibgp", c.EnableIBGP, "peer the nodes with each other (full mesh, or via nodes annotated as route reflectors); false for ToR-only designs where nodes learn the other racks from upstream routers")
	fl.StringSliceVar(&f.peerIPs, "peer-router-ips", nil, "upstream routers (e.g. ToR switches) every node peers with, comma-separated")
	fl.StringSliceVar(&f.peerASNs, "peer-router-asns", nil, "their ASNs: one per --peer-router-ips entry, or one for all")
	fl.StringSliceVar(&f.peerPorts, "peer-router-ports", nil, "their BGP ports: one per IP, or one for all (default 179)")
	fl.StringSliceVar(&f.peerMultihopTTLs, "peer-router-multihop-ttl", nil, "eBGP multihop TTL: one per IP, or one for all (default: directly connected)")
	fl.StringVar(&f.peerPasswordSecret, "peer-router-password-secret", "", "namespace/name of a Secret with their TCP-MD5 passwords, one key per peer IP (IPv6 colons as dashes); the agent's Role must allow get on it")
	fl.StringVar(&f.meshPasswordSecret, "mesh-password-secret", "", "namespace/name of a Secret whose key \"password\" is the TCP-MD5 password of the node-to-node sessions")
	fl.Uint32Var(&c.UpstreamMaxPrefixes, "peer-router-max-prefixes", c.UpstreamMaxPrefixes, "most prefixes (per address family) an upstream peer may send before its session is shut down, unless its nodebgp.io/peers entry sets maxPrefixes; 0 = no limit. Routes the import policy refuses count too: GoBGP keeps them. GoBGP v3.37.0 counts the peer's routes on every UPDATE, so a limit much above the default costs CPU and memory while the routes arrive (docs/peering.md)")
	fl.Var(nonNegativeDuration{&c.MeshHoldTime}, "mesh-hold-time", "BGP hold time of the node-to-node sessions: a peer silent this long is declared down; 0 = 90s, else 3s or more (lower it for clusters without --bfd; with graceful restart on, a peer declared down keeps its routes for the 120s restart time)")
	fl.Var(nonNegativeDuration{&c.MeshKeepaliveTime}, "mesh-keepalive-time", "keepalive interval of the node-to-node sessions, at most a third of --mesh-hold-time; 0 = a third of it")
	fl.BoolVar(&c.BFD, "bfd", false, "run BFD on the node-to-node sessions: a dead node or link takes its session down in --bfd-min-rx x --bfd-multiplier (900ms by default) instead of the hold time; every node must have it on")
	fl.Var(positiveDuration{&c.BFDTimers.MinTx}, "bfd-min-tx", "BFD: how often we send once the session is up (50ms..60s; 1s while it is not up)")
	fl.Var(positiveDuration{&c.BFDTimers.MinRx}, "bfd-min-rx", "BFD: the fastest we accept packets from a peer (50ms..60s); with the peer's multiplier it sets how soon the peer is declared down")
	fl.IntVar(&f.bfdMultiplier, "bfd-multiplier", f.bfdMultiplier, "BFD: a peer that sent nothing for this many of its intervals is down (2..255)")
	fl.StringSliceVar(&f.peerBFD, "peer-router-bfd", nil, "run BFD with the --peer-router-ips peers (true or false): one per IP, or one for all; timers from --bfd-min-tx, --bfd-min-rx, --bfd-multiplier")
	fl.BoolVar(&c.AcceptUpstreamRoutes, "accept-upstream-routes", false, "install routes from upstream peers that are outside the cluster's pod CIDRs (e.g. a default route); routes inside them are always refused")
	fl.StringVar(&c.CNIConfDir, "cni-conf-dir", c.CNIConfDir, "where to write 10-nodebgp.conflist")
	fl.StringVar(&c.CNIBridge, "cni-bridge", c.CNIBridge, "name of the Linux bridge pods attach to")
	fl.StringVar(&c.IPAMDataDir, "ipam-data-dir", "", "host-local IPAM lease dir written into the conflist (default: the plugin's, /var/lib/cni/networks)")
	fl.IntVar(&c.MTU, "mtu", 0, "pod interface MTU (default: the MTU of the interface that carries the node IP)")
	fl.Var(prefixesValue{&c.ClusterCIDRs}, "cluster-cidr", "the cluster's pod CIDR(s), comma-separated; traffic to them is never masqueraded")
	fl.BoolVar(&c.Masquerade, "masquerade", c.Masquerade, "masquerade pod traffic leaving for destinations outside --cluster-cidr")
	fl.BoolVar(&c.AdvertiseServices.ClusterIP, "advertise-cluster-ip", false, "announce Services' ClusterIPs to upstream peers as host routes (internalTrafficPolicy Local: only from nodes with a ready endpoint); a Service's nodebgp.io/advertise annotation overrides the switches")
	fl.BoolVar(&c.AdvertiseServices.ExternalIP, "advertise-external-ip", false, "announce Services' spec.externalIPs to upstream peers (externalTrafficPolicy Local: only from nodes with a ready endpoint)")
	fl.BoolVar(&c.AdvertiseServices.LoadBalancerIP, "advertise-loadbalancer-ip", false, "announce LoadBalancer Services' status.loadBalancer.ingress IPs to upstream peers (externalTrafficPolicy Local: only from nodes with a ready endpoint)")
	fl.Var(prefixesValue{&c.ServiceCIDRs}, "advertise-service-cidr", "with --advertise-cluster-ip: announce these service CIDRs (kube-apiserver's --service-cluster-ip-range) as aggregates from every node instead of a host route per ClusterIP")
	fl.DurationVar(&c.NetworkReadyTimeout, "network-ready-timeout", c.NetworkReadyTimeout, "a starting node writes its CNI config, and so takes pods, once its routes are in the kernel and every BGP session is up; this bounds the wait for sessions (a peer that is gone must not keep the node out of service); 0 = do not wait for sessions")
	fl.Var(positiveDuration{&c.RoutesSyncPeriod}, "routes-sync-period", "how often the full resync of kernel routes, rules and peers runs (it also runs on every change)")
	fl.BoolVar(&c.StatusObject, "status-object", c.StatusObject, "write this node's BGPNodeState (nodebgp.io) with its BGP sessions, routes and conditions; needs the CRD and its RBAC from daemonset/base")
	fl.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "where /healthz, /readyz and /metrics listen; empty = off")
	fl.BoolVar(&c.Profiling, "profiling", false, "serve Go's pprof endpoints (/debug/pprof/) on --health-addr")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	return cmd
}

func (f *runFlags) toConfig() (agent.Config, error) {
	cfg := f.cfg
	if cfg.NodeName == "" {
		cfg.NodeName = os.Getenv("NODE_NAME")
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("--hostname-override: not set, NODE_NAME empty, and the hostname is unreadable: %w", err)
		}
		cfg.NodeName = h
	}
	peers, err := peering.ParseGlobalPeers(f.peerIPs, f.peerASNs, f.peerPorts, f.peerMultihopTTLs, f.peerPasswordSecret)
	if err != nil {
		return cfg, err
	}
	if err := peering.SetGlobalPeersBFD(peers, f.peerBFD); err != nil {
		return cfg, err
	}
	cfg.GlobalPeers = peers
	if f.bfdMultiplier < 0 || f.bfdMultiplier > 255 {
		return cfg, fmt.Errorf("--bfd-multiplier: %d is outside %d..%d", f.bfdMultiplier, bfd.MinMultiplier, bfd.MaxMultiplier)
	}
	cfg.BFDTimers.Multiplier = uint8(f.bfdMultiplier)
	if f.meshPasswordSecret != "" {
		ref, err := peering.ParseSecretRef(f.meshPasswordSecret, "password")
		if err != nil {
			return cfg, fmt.Errorf("--mesh-password-secret: %w", err)
		}
		cfg.MeshPasswordSecret = ref
	}
	logger, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = logger
	cfg.Version = version
	return cfg, cfg.Validate()
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format: %q is not text or json", format)
	}
}
