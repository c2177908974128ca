package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/services"
)

// Config is everything `router run` needs, already parsed into types at the edge
// (cmd/router). Validate reports every problem by the flag that causes it.
type Config struct {
	Kubeconfig string // "" = in-cluster
	NodeName   string

	ClusterASN      uint32
	RouterID        netip.Addr // zero = the node's IPv4 InternalIP
	BGPPort         int32
	GoBGPAPIAddress string // "" = no gRPC API
	// GoBGPAPIAllowWrites serves the API's changing methods too; off, the
	// gobgp CLI can read state but not change it.
	GoBGPAPIAllowWrites bool

	GracefulRestart bool
	RestartTime     time.Duration
	// DeferralTime bounds how long a restarted agent waits for its peers'
	// End-of-RIB before it announces its own routes again.
	DeferralTime time.Duration

	// EnableIBGP peers the nodes with each other (full mesh, or through route
	// reflectors); off, nodes peer only with upstream routers.
	EnableIBGP bool
	// GlobalPeers are the upstream routers every node peers with (--peer-router-*).
	GlobalPeers []peering.UpstreamPeer
	// UpstreamMaxPrefixes is the prefix limit of every upstream peer whose
	// nodebgp.io/peers entry names none (--peer-router-max-prefixes);
	// 0 = no limit.
	UpstreamMaxPrefixes uint32
	// AcceptUpstreamRoutes accepts routes from upstream peers that are not
	// inside a cluster pod CIDR (e.g. a default route); off, none are taken.
	AcceptUpstreamRoutes bool
	// MeshPasswordSecret holds the TCP-MD5 password of the node-to-node
	// sessions; zero = none.
	MeshPasswordSecret peering.SecretRef
	// MeshHoldTime and MeshKeepaliveTime time the node-to-node sessions;
	// 0 = 90 s and a third of the hold time.
	MeshHoldTime, MeshKeepaliveTime time.Duration
	// BFD guards the node-to-node sessions with BFD, with BFDTimers.
	BFD bool
	// BFDTimers are --bfd-min-tx, --bfd-min-rx and --bfd-multiplier: those
	// of the node sessions, and of upstream peers with BFD on that leave
	// them unset. A zero field is bfd.DefaultTimers'.
	BFDTimers bfd.Timers

	CNIConfDir  string
	CNIBridge   string
	IPAMDataDir string // "" = host-local's default
	MTU         int    // 0 = from the interface that carries the node IP

	ClusterCIDRs []netip.Prefix
	Masquerade   bool

	// AdvertiseServices are the --advertise-cluster-ip, --advertise-external-ip
	// and --advertise-loadbalancer-ip switches; all off, Services are not
	// watched at all (and their nodebgp.io/advertise annotations unread).
	AdvertiseServices services.Kinds
	// ServiceCIDRs (--advertise-service-cidr) are announced as aggregates
	// instead of a host route per ClusterIP.
	ServiceCIDRs []netip.Prefix

	// NetworkReadyTimeout bounds how long a starting node waits for its
	// BGP sessions before it writes the CNI config and so takes pods.
	NetworkReadyTimeout time.Duration

	RoutesSyncPeriod time.Duration
	HealthAddr       string // "" = no health/metrics listener
	// StatusObject writes the node's BGPNodeState (pkg/status).
	StatusObject bool
	// Version is the router's version, for nodebgp_build_info.
	Version string
	// Profiling serves Go's pprof endpoints on HealthAddr.
	Profiling bool

	Logger *slog.Logger
}

// Validate returns one error per invalid setting, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if c.NodeName == "" {
		bad("hostname-override", "node name is empty (set the flag, NODE_NAME, or a hostname)")
	}
	if err := bgp.CheckASN(uint64(c.ClusterASN)); err != nil {
		bad("cluster-asn", "%v", err)
	}
	if c.RouterID.IsValid() && !c.RouterID.Is4() {
		bad("router-id", "%s is not an IPv4 address", c.RouterID)
	}
	if c.BGPPort < 1 || c.BGPPort > 65535 {
		bad("bgp-port", "%d is not a TCP port", c.BGPPort)
	}
	if err := bgp.CheckRestartTime(c.RestartTime); c.GracefulRestart && err != nil {
		bad("bgp-restart-time", "%v", err)
	}
	if err := bgp.CheckDeferralTime(c.DeferralTime); c.GracefulRestart && err != nil {
		bad("bgp-deferral-time", "%v", err)
	}
	if err := bgp.CheckHoldTime(c.MeshHoldTime); err != nil {
		bad("mesh-hold-time", "%v", err)
	} else if err := bgp.CheckKeepaliveTime(c.MeshKeepaliveTime, c.MeshHoldTime); err != nil {
		bad("mesh-keepalive-time", "%v", err)
	}
	bt := c.bfdTimers()
	if err := bfd.CheckInterval(bt.MinTx); err != nil {
		bad("bfd-min-tx", "%v", err)
	}
	if err := bfd.CheckInterval(bt.MinRx); err != nil {
		bad("bfd-min-rx", "%v", err)
	}
	if err := bfd.CheckMultiplier(int(bt.Multiplier)); err != nil {
		bad("bfd-multiplier", "%v", err)
	}
	if c.CNIConfDir == "" {
		bad("cni-conf-dir", "must not be empty")
	}
	if c.CNIBridge == "" || len(c.CNIBridge) > 15 {
		bad("cni-bridge", "%q is not a valid interface name (1..15 characters)", c.CNIBridge)
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > 65535) {
		bad("mtu", "%d is outside 576..65535", c.MTU)
	}
	if c.Masquerade && len(c.ClusterCIDRs) == 0 {
		bad("cluster-cidr", "required when --masquerade is on: the cluster's pod CIDR, as given to kube-controller-manager --cluster-cidr")
	}
	if c.NetworkReadyTimeout < 0 || c.NetworkReadyTimeout > 10*time.Minute {
		bad("network-ready-timeout", "%s is outside 0..10m", c.NetworkReadyTimeout)
	}
	if len(c.ServiceCIDRs) > 0 && !c.AdvertiseServices.ClusterIP {
		bad("advertise-service-cidr", "needs --advertise-cluster-ip: the aggregate stands for the ClusterIPs")
	}
	if c.RoutesSyncPeriod < time.Second {
		bad("routes-sync-period", "%s is shorter than 1s", c.RoutesSyncPeriod)
	}
	return errors.Join(errs...)
}

func (c Config) meshBFD() bfd.Timers {
	if !c.BFD {
		return bfd.Timers{}
	}
	return c.bfdTimers()
}

// bfdTimers is BFDTimers with bfd.DefaultTimers for the fields left zero.
func (c Config) bfdTimers() bfd.Timers {
	t := c.BFDTimers
	if t.MinTx == 0 {
		t.MinTx = bfd.DefaultTimers.MinTx
	}
	if t.MinRx == 0 {
		t.MinRx = bfd.DefaultTimers.MinRx
	}
	if t.Multiplier == 0 {
		t.Multiplier = bfd.DefaultTimers.Multiplier
	}
	return t
}

// newServiceIndex is the index of what the Services ask of this node; nil
// when every --advertise-* switch is off.
func (c Config) newServiceIndex() *services.Index {
	if c.AdvertiseServices == (services.Kinds{}) {
		return nil
	}
	return services.NewIndex(services.Settings{NodeName: c.NodeName, Advertise: c.AdvertiseServices, ClusterIPRanges: c.ServiceCIDRs})
}

// planSettings are the settings the planner reads.
func (c Config) planSettings() plan.Settings {
	return plan.Settings{
		NodeName:             c.NodeName,
		ClusterASN:           c.ClusterASN,
		BGPPort:              uint16(c.BGPPort),
		EnableIBGP:           c.EnableIBGP,
		GlobalPeers:          c.GlobalPeers,
		UpstreamMaxPrefixes:  c.UpstreamMaxPrefixes,
		AcceptUpstreamRoutes: c.AcceptUpstreamRoutes,
		MeshPasswordSecret:   c.MeshPasswordSecret,
		MeshHoldTime:         c.MeshHoldTime,
		MeshKeepaliveTime:    c.MeshKeepaliveTime,
		MeshBFD:              c.meshBFD(),
		BFDDefaults:          c.bfdTimers(),
		CNIBridge:            c.CNIBridge,
		IPAMDataDir:          c.IPAMDataDir,
		MTU:                  c.MTU,
		ClusterCIDRs:         c.ClusterCIDRs,
		Masquerade:           c.Masquerade,
	}
}
