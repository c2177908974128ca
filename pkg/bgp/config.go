package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults for the fields of Config left zero.
const (
	DefaultListenPort   = 179
	DefaultRestartTime  = 120 * time.Second
	DefaultConnectRetry = 5 * time.Second
	// DefaultDeferralTime bounds how long a restarting speaker withholds its
	// updates waiting for its peers' End-of-RIB (GoBGP's own default, 360s,
	// would keep a new prefix of ours unannounced for six minutes).
	DefaultDeferralTime = 30 * time.Second
)

// Config is the validated, typed configuration of a Speaker.
type Config struct {
	// ASN is the local autonomous system number.
	ASN uint32
	// RouterID is the BGP identifier; BGP requires a 32-bit (IPv4) value.
	RouterID netip.Addr
	// ListenAddress is the only address BGP listens on (the node IP). It is
	// also the source address of the sessions this speaker opens. Required
	// unless ListenPort is -1.
	ListenAddress netip.Addr
	// ListenAddress6 is the node's IPv6 address on a dual-stack node, where
	// ListenAddress is then the IPv4 one: BGP listens on it too and it
	// sources the IPv6 sessions. Zero on a single-stack node.
	ListenAddress6 netip.Addr
	// ListenPort is the BGP port: 0 means DefaultListenPort, -1 means do not
	// listen at all (GoBGP's convention; sessions are then only dialed).
	ListenPort int32
	// APIAddress is where GoBGP's gRPC API listens, e.g. "127.0.0.1:50051",
	// so that the stock gobgp CLI works on the node. Empty means no API.
	APIAddress string
	// APIAllowWrites serves the API's changing methods too (AddPath,
	// DeletePeer, ResetPeer, ...); off, only List*, Get* and Watch* answer.
	APIAllowWrites bool
	// GracefulRestart announces the graceful-restart capability (RFC 4724)
	// on every session and makes GoBGP a helper for restarting peers.
	GracefulRestart bool
	// RestartTime is how long peers keep our routes while we restart; 0 means
	// DefaultRestartTime. At most 4095s.
	RestartTime time.Duration
	// Restarting says this start follows a stop of the same node's speaker
	// whose routes the peers may still hold (graceful restart). Only then
	// do the sessions opened within DeferralTime announce the Restart State
	// and Forwarding State bits, so that helpers keep our routes (the data
	// plane kept forwarding) and GoBGP withholds our updates until every
	// peer sent End-of-RIB or DeferralTime ran out. Needs GracefulRestart.
	Restarting bool
	// DeferralTime bounds that wait; 0 means DefaultDeferralTime.
	DeferralTime time.Duration
	// RouteReflectorClusterID makes this speaker a route reflector (RFC
	// 4456) for the peers marked RouteReflectorClient, with this cluster
	// ID; zero means not a reflector.
	RouteReflectorClusterID netip.Addr
	// ConnectRetry is the pause between attempts to open a session; 0 means
	// DefaultConnectRetry. GoBGP counts whole seconds, at least one.
	ConnectRetry time.Duration
	// Logger receives the speaker's and GoBGP's logs; nil means
	// slog.Default(). The caller names the component (With("component",
	// "bgp")); GoBGP's own lines add source=gobgp.
	Logger *slog.Logger
	// OnSessionDown, if set, hears each neighbor whose session leaves
	// Established (GoBGP's "Peer Down", whatever ended it). It is called
	// from GoBGP's goroutines and must not block; see Desired.Redial.
	OnSessionDown func(peer netip.Addr)
}

// withDefaults returns cfg with zero fields replaced by their defaults and
// IPv4-mapped addresses as plain IPv4.
func (cfg Config) withDefaults() Config {
	cfg.RouterID = cfg.RouterID.Unmap()
	cfg.ListenAddress = cfg.ListenAddress.Unmap()
	if cfg.ListenPort == 0 {
		cfg.ListenPort = DefaultListenPort
	}
	if cfg.RestartTime == 0 {
		cfg.RestartTime = DefaultRestartTime
	}
	if cfg.ConnectRetry == 0 {
		cfg.ConnectRetry = DefaultConnectRetry
	}
	if cfg.DeferralTime == 0 {
		cfg.DeferralTime = DefaultDeferralTime
	}
	cfg.RouteReflectorClusterID = cfg.RouteReflectorClusterID.Unmap()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// validate reports every invalid field of cfg (after defaults), each error
// naming its field.
func (cfg Config) validate() error {
	var errs []error
	if err := CheckASN(uint64(cfg.ASN)); err != nil {
		errs = append(errs, fmt.Errorf("ASN: %w", err))
	}
	if !cfg.RouterID.Is4() {
		errs = append(errs, fmt.Errorf("RouterID: %q is not an IPv4 address (BGP identifiers are 32 bits)", cfg.RouterID))
	}
	switch {
	case cfg.ListenPort == -1:
	case cfg.ListenPort < 1 || cfg.ListenPort > 65535:
		errs = append(errs, fmt.Errorf("ListenPort: %d is not a port (or -1 for no listener)", cfg.ListenPort))
	case !cfg.ListenAddress.IsValid():
		errs = append(errs, errors.New("ListenAddress: required unless ListenPort is -1"))
	}
	if cfg.ListenAddress.IsValid() && cfg.ListenAddress.Zone() != "" {
		errs = append(errs, fmt.Errorf("ListenAddress: %s: zoned addresses are not supported", cfg.ListenAddress))
	}
	if a := cfg.ListenAddress6; a.IsValid() {
		switch {
		case !a.Is6() || a.Is4In6() || a.IsUnspecified() || a.Zone() != "":
			errs = append(errs, fmt.Errorf("ListenAddress6: %s is not a usable IPv6 address", a))
		case !cfg.ListenAddress.Is4():
			errs = append(errs, fmt.Errorf("ListenAddress6: needs ListenAddress to be the IPv4 address, not %q", cfg.ListenAddress))
		}
	}
	if cfg.APIAddress != "" {
		if _, _, err := net.SplitHostPort(cfg.APIAddress); err != nil {
			errs = append(errs, fmt.Errorf("APIAddress: %q: %w", cfg.APIAddress, err))
		}
	}
	if err := CheckRestartTime(cfg.RestartTime); cfg.GracefulRestart && err != nil {
		errs = append(errs, fmt.Errorf("RestartTime: %w", err))
	}
	if cfg.Restarting && !cfg.GracefulRestart {
		errs = append(errs, errors.New("Restarting: needs GracefulRestart"))
	}
	if err := CheckDeferralTime(cfg.DeferralTime); err != nil {
		errs = append(errs, fmt.Errorf("DeferralTime: %w", err))
	}
	if id := cfg.RouteReflectorClusterID; id.IsValid() && (!id.Is4() || id.IsUnspecified()) {
		errs = append(errs, fmt.Errorf("RouteReflectorClusterID: %q is not a non-zero IPv4 address (cluster IDs are 32 bits)", id))
	}
	if err := CheckConnectRetry(cfg.ConnectRetry); err != nil {
		errs = append(errs, fmt.Errorf("ConnectRetry: %w", err))
	}
	return errors.Join(errs...)
}

// listenAddresses are the addresses BGP listens on: the node IP, and its
// IPv6 address on a dual-stack node.
func (cfg Config) listenAddresses() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{cfg.ListenAddress, cfg.ListenAddress6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// seconds converts d to the whole seconds GoBGP's timers take, rounding up
// and never below one.
func seconds(d time.Duration) uint64 {
	s := uint64((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}
