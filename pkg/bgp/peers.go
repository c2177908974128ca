package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Session timers. Hold and keepalive are the RFC 4271 suggestions.
const (
	holdTimeSeconds  = 90
	keepaliveSeconds = 30
)

// Peer is a BGP neighbor this speaker should have a session with.
type Peer struct {
	// Name is shown as the peer's description (gobgp neighbor): for other
	// nodes, the Kubernetes node name.
	Name    string
	Address netip.Addr
	ASN     uint32
	// Port is the peer's BGP port; 0 means 179.
	Port uint16
	// Passive: never dial this peer, only accept its connection. Between two
	// nodes exactly one side should dial (see the agent): when both dial,
	// each refuses the other's attempt during its 5s idle hold after the
	// last failure, and the pair can go on missing each other for minutes;
	// and a graceful-restart helper that gets refused while it dials drops
	// the routes it was keeping.
	Passive bool

	// Kind says whose routes these are: another node of the cluster, or a
	// router outside it (a ToR). Import and export policy follow from it.
	Kind PeerKind
	// AcceptPrefixes (PeerNode only): the pod CIDRs the Kubernetes API says
	// this node owns. Import accepts exactly these from it and nothing else.
	AcceptPrefixes []netip.Prefix
	// LocalAddress sources the session; zero = the speaker's listen address
	// when it is of the peer's family.
	LocalAddress netip.Addr
	// MultihopTTL enables eBGP multihop with this TTL; 0 = directly connected.
	MultihopTTL uint8
	// HoldTime and KeepaliveTime; 0 = 90s and 30s.
	HoldTime, KeepaliveTime time.Duration
	// Password is the TCP-MD5 (RFC 2385) key; "" = none.
	Password string
	// RouteReflectorClient: this speaker reflects routes to the peer (the
	// speaker is a route reflector, see Config.RouteReflectorClusterID).
	RouteReflectorClient bool
	// MaxPrefixes bounds what the peer may send; 0 = no limit. Over the
	// limit GoBGP tears the session down (and says so in the log and in
	// PeerStatus).
	MaxPrefixes uint32
}

// PeerKind is who the peer is, which decides what we take from it and give to it.
type PeerKind int

const (
	// PeerNode is another node of the cluster (full mesh or route reflector).
	PeerNode PeerKind = iota
	// PeerUpstream is a router outside the cluster, typically a ToR switch.
	PeerUpstream
)

func (p Peer) String() string {
	if p.Name == "" {
		return p.Address.String()
	}
	return fmt.Sprintf("%s (%s)", p.Name, p.Address)
}

// peerSettings are the parts of Config every session shares.
type peerSettings struct {
	localAddress    netip.Addr
	gracefulRestart bool
	restartTime     time.Duration
	connectRetry    time.Duration
}

func newPeerSettings(cfg Config) peerSettings {
	return peerSettings{
		localAddress:    cfg.ListenAddress,
		gracefulRestart: cfg.GracefulRestart,
		restartTime:     cfg.RestartTime,
		connectRetry:    cfg.ConnectRetry,
	}
}

// apiPeer renders p as GoBGP's neighbor configuration.
func apiPeer(set peerSettings, p Peer) *api.Peer {
	out := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      seconds(set.connectRetry),
			HoldTime:          holdTimeSeconds,
			KeepaliveInterval: keepaliveSeconds,
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port), PassiveMode: p.Passive},
		AfiSafis:  peerAfiSafis(p.Address, set.gracefulRestart),
	}
	// Source the session from the node IP, so that peers see the address
	// they were configured with; only possible within one address family.
	if set.localAddress.IsValid() && set.localAddress.Is4() == p.Address.Is4() {
		out.Transport.LocalAddress = set.localAddress.String()
	}
	// Graceful restart (RFC 4724) in GoBGP v3.37.0, as read in its source:
	//
	//  - It is configured per neighbor only: GracefulRestart{Enabled,
	//    RestartTime} plus MpGracefulRestart on each AFI/SAFI (the
	//    capability's tuples; see peerAfiSafis). Global.GracefulRestart is
	//    stored but not used by the server, so none is set.
	//  - As helper, when an established session ends by a read or write
	//    failure (the peer's process died or stopped: TCP FIN/RST) or hold
	//    timer expiry, GoBGP marks the peer's paths of every family the peer
	//    announced graceful restart for as stale, keeps them (still best),
	//    and waits the Restart Time the peer announced. A NOTIFICATION ends
	//    the session hard and drops the paths at once (RFC 8538's N bit,
	//    which would soften that, is not enabled).
	//  - The stale paths go when the returning peer has sent End-of-RIB for
	//    all families (those it did not re-announce) or the restart timer
	//    expires — and also as soon as a reconnect attempt fails before
	//    Established (any move to Idle while the peer is restarting), e.g.
	//    when the restarted peer listens but has no neighbor configured yet,
	//    or dials while this side still holds its 5s idle after the drop.
	//  - GoBGP sends End-of-RIB only to peers that negotiated graceful
	//    restart, after the initial table.
	//  - The restarting-speaker side (LocalRestarting: R and F bits, and
	//    deferring our own updates until every peer's End-of-RIB or the
	//    DeferralTime) is not used: our routes are known at start. So the F
	//    bit is never set; GoBGP helpers ignore it, but an RFC-strict helper
	//    (FRR) flushes our stale routes when we reconnect and takes the fresh
	//    ones a moment later.
	if set.gracefulRestart {
		out.GracefulRestart = &api.GracefulRestart{
			Enabled:     true,
			RestartTime: uint32(seconds(set.restartTime)),
			// The deferral timer runs only with LocalRestarting; left zero,
			// GoBGP would default it to 360s. Keep it bounded anyway.
			DeferralTime: uint32(seconds(set.restartTime)),
		}
	}
	return out
}

// peerFromAPI reads back the fields of a GoBGP neighbor that SetPeers owns.
func peerFromAPI(p *api.Peer) (Peer, error) {
	raw := p.GetConf().GetNeighborAddress()
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return Peer{}, fmt.Errorf("neighbor %q: address: %w", raw, err)
	}
	port := p.GetTransport().GetRemotePort()
	if port == 0 {
		port = DefaultListenPort
	}
	if port > 65535 {
		return Peer{}, fmt.Errorf("neighbor %s: remote port %d out of range", addr, port)
	}
	return Peer{
		Name:    p.GetConf().GetDescription(),
		Address: addr.Unmap(),
		ASN:     p.GetConf().GetPeerAsn(),
		Port:    uint16(port),
		Passive: p.GetTransport().GetPassiveMode(),
	}, nil
}

// normalizePeers validates desired peers: it fills the default port, and
// drops (with an error naming each) peers without a usable address or ASN,
// the speaker itself (self: its listen address and port), and repeated
// addresses after the first (GoBGP keys neighbors by address).
func normalizePeers(desired []Peer, self netip.AddrPort) ([]Peer, error) {
	var errs []error
	seen := make(map[netip.Addr]bool, len(desired))
	out := make([]Peer, 0, len(desired))
	for _, p := range desired {
		p.Address = p.Address.Unmap()
		switch {
		case !p.Address.IsValid():
			errs = append(errs, fmt.Errorf("peer %q: no address", p.Name))
			continue
		case p.Address.Zone() != "":
			errs = append(errs, fmt.Errorf("peer %s: zoned addresses are not supported", p))
			continue
		case p.ASN == 0:
			errs = append(errs, fmt.Errorf("peer %s: 0 is not a valid AS number", p))
			continue
		case seen[p.Address]:
			errs = append(errs, fmt.Errorf("peer %s: address listed more than once", p))
			continue
		}
		if p.Port == 0 {
			p.Port = DefaultListenPort
		}
		if netip.AddrPortFrom(p.Address, p.Port) == self {
			errs = append(errs, fmt.Errorf("peer %s: is this speaker itself", p))
			continue
		}
		seen[p.Address] = true
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// peerDiff is what SetPeers has to change in GoBGP.
type peerDiff struct {
	add    []Peer
	update []Peer // the desired version of a peer whose settings changed
	remove []Peer // as GoBGP has them
}

func (d peerDiff) empty() bool {
	return len(d.add) == 0 && len(d.update) == 0 && len(d.remove) == 0
}

// sessionChanged tells whether GoBGP's neighbor cur must be reconfigured to
// become want. AcceptPrefixes is import policy, not session configuration:
// it changes without touching the session.
func sessionChanged(cur, want Peer) bool {
	cur.AcceptPrefixes, want.AcceptPrefixes = nil, nil
	return !reflect.DeepEqual(cur, want)
}

// diffPeers compares desired (normalized) peers with GoBGP's, keyed by
// address. Results are sorted by address.
func diffPeers(desired, actual []Peer) peerDiff {
	have := make(map[netip.Addr]Peer, len(actual))
	for _, p := range actual {
		have[p.Address] = p
	}
	var d peerDiff
	for _, p := range desired {
		cur, ok := have[p.Address]
		switch {
		case !ok:
			d.add = append(d.add, p)
		case sessionChanged(cur, p):
			d.update = append(d.update, p)
		}
		delete(have, p.Address)
	}
	for _, p := range have {
		d.remove = append(d.remove, p)
	}
	byAddr := func(a, b Peer) int { return a.Address.Compare(b.Address) }
	slices.SortFunc(d.add, byAddr)
	slices.SortFunc(d.update, byAddr)
	slices.SortFunc(d.remove, byAddr)
	return d
}
