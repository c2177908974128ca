package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/nodebgp/router/pkg/bfd"
)

// Session timers when a Peer leaves them zero: the RFC 4271 suggestions.
const (
	defaultKeepaliveTime = DefaultHoldTime / 3
	// maxPasswordLen is the longest TCP-MD5 key Linux takes
	// (TCP_MD5SIG_MAXKEYLEN).
	maxPasswordLen = 80
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
	// AcceptReflected (PeerNode only): the peer is one of this node's route
	// reflectors, and import accepts from it exactly Policy.ReflectedPodCIDRs
	// (every other node's pod CIDRs) instead of AcceptPrefixes.
	AcceptReflected bool
	// LocalAddress sources the session; zero = the speaker's listen address
	// when it is of the peer's family.
	LocalAddress netip.Addr
	// MultihopTTL enables eBGP multihop with this TTL; 0 = directly connected.
	MultihopTTL uint8
	// HoldTime and KeepaliveTime; 0 = 90s and 30s.
	HoldTime, KeepaliveTime time.Duration
	// ConnectRetry is the pause between attempts to open the session;
	// 0 = Config.ConnectRetry.
	ConnectRetry time.Duration
	// Password is the TCP-MD5 (RFC 2385) key; "" = none.
	Password string
	// RouteReflectorClient: this speaker reflects routes to the peer (the
	// speaker is a route reflector, see Config.RouteReflectorClusterID).
	RouteReflectorClient bool
	// MaxPrefixes bounds what the peer may send; 0 = no limit. Over the
	// limit GoBGP tears the session down (and says so in the log and in
	// PeerStatus).
	MaxPrefixes uint32
	// BFD are the timers of a BFD session that guards this session; zero
	// (Multiplier 0) = no BFD. The speaker itself runs no BFD: the agent
	// does (pkg/bfd), and holds the session down with AdminDown when BFD
	// says the path failed.
	BFD bfd.Timers
	// AdminDown holds the session down: GoBGP keeps the neighbor but
	// neither dials nor accepts it. Setting it on an established session
	// ends the session with a Cease (a Hard Reset where RFC 8538 was
	// negotiated), so both sides drop each other's routes at once, graceful
	// restart or not; the neighbor is then added again held down, which
	// drops any of the peer's routes GoBGP kept as stale (Speaker.holdDown).
	// Clearing it re-creates the neighbor, which dials without GoBGP's idle
	// hold (see peerFields).
	AdminDown bool
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
	// localAddress and localAddress6 source the sessions of their family:
	// Config.ListenAddress and, on a dual-stack node, ListenAddress6.
	localAddress    netip.Addr
	localAddress6   netip.Addr
	gracefulRestart bool
	restartTime     time.Duration
	deferralTime    time.Duration
	connectRetry    time.Duration
	// clusterID is Config.RouteReflectorClusterID, "" when this speaker is
	// not a route reflector.
	clusterID string
}

func newPeerSettings(cfg Config) peerSettings {
	set := peerSettings{
		localAddress:    cfg.ListenAddress,
		localAddress6:   cfg.ListenAddress6,
		gracefulRestart: cfg.GracefulRestart,
		restartTime:     cfg.RestartTime,
		deferralTime:    cfg.DeferralTime,
		connectRetry:    cfg.ConnectRetry,
	}
	if cfg.RouteReflectorClusterID.IsValid() {
		set.clusterID = cfg.RouteReflectorClusterID.String()
	}
	return set
}

// resolve fills the session settings p leaves to the speaker, in the form
// GoBGP reports them back: the local address (the listen address, when of
// the peer's family) and the timers, in whole seconds.
func (set peerSettings) resolve(p Peer) Peer {
	if !p.LocalAddress.IsValid() {
		for _, a := range []netip.Addr{set.localAddress, set.localAddress6} {
			if a.IsValid() && a.Is4() == p.Address.Is4() {
				p.LocalAddress = a
				break
			}
		}
	}
	if p.HoldTime == 0 {
		p.HoldTime = DefaultHoldTime
	}
	if p.KeepaliveTime == 0 {
		p.KeepaliveTime = min(defaultKeepaliveTime, p.HoldTime/3)
	}
	if p.ConnectRetry == 0 {
		p.ConnectRetry = set.connectRetry
	}
	p.HoldTime = time.Duration(seconds(p.HoldTime)) * time.Second
	p.KeepaliveTime = time.Duration(seconds(p.KeepaliveTime)) * time.Second
	p.ConnectRetry = time.Duration(seconds(p.ConnectRetry)) * time.Second
	return p
}

// complete resolves normalized peers (see resolve) and drops, with an
// error naming each, route-reflector clients this speaker cannot serve.
func (set peerSettings) complete(peers []Peer, asn uint32) ([]Peer, error) {
	var errs []error
	out := make([]Peer, 0, len(peers))
	for _, p := range peers {
		switch {
		case p.RouteReflectorClient && set.clusterID == "":
			errs = append(errs, fmt.Errorf("peer %s: RouteReflectorClient: this speaker is not a route reflector (no cluster ID)", p))
			continue
		case p.RouteReflectorClient && p.ASN != asn:
			errs = append(errs, fmt.Errorf("peer %s: RouteReflectorClient: AS %d is not ours (%d); only iBGP peers are reflected to", p, p.ASN, asn))
			continue
		}
		out = append(out, set.resolve(p))
	}
	return out, errors.Join(errs...)
}

// apiPeer renders p as GoBGP's neighbor configuration. restarting sets the
// Restart State bit (see Config.Restarting).
func apiPeer(set peerSettings, p Peer, restarting bool) *api.Peer {
	p = set.resolve(p)
	out := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			Description:     p.Name,
			// GoBGP sets TCP_MD5SIG for this address on its listener when
			// the neighbor is added (server.go:3261) and on the socket it
			// dials from (fsm.go:511 → sockopt_linux.go:140).
			AuthPassword: p.Password,
			AdminDown:    p.AdminDown,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      seconds(p.ConnectRetry),
			HoldTime:          seconds(p.HoldTime),
			KeepaliveInterval: seconds(p.KeepaliveTime),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port), PassiveMode: p.Passive},
		// GoBGP starts a neighbor added with AdminDown in Idle(Admin)
		// (fsm.go:267).
		AfiSafis: peerAfiSafis(p.Address, set.gracefulRestart, p.MaxPrefixes),
	}
	// Source the session from the given address, else from the node IP so
	// that peers see the address they were configured with; only possible
	// within one address family.
	if p.LocalAddress.IsValid() {
		out.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.MultihopTTL > 0 {
		out.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.MultihopTTL)}
	}
	if p.RouteReflectorClient {
		// GoBGP takes the cluster ID from each client's configuration and
		// defaults it to the router ID (config/oc/default.go:250).
		out.RouteReflector = &api.RouteReflector{RouteReflectorClient: true, RouteReflectorClusterId: set.clusterID}
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
	//    and waits the Restart Time the peer announced (fsm.go:1896).
	//  - RFC 8538 (NotificationEnabled, the N bit) is on: a NOTIFICATION
	//    other than Hard Reset, received from a peer that also set N, is then
	//    a graceful restart too (fsm.go:1896), so a ToR operator's "clear bgp"
	//    does not drop its routes from the cluster; and the Cease GoBGP sends
	//    when Apply deletes a peer becomes a Hard Reset (fsm.go:1862), so
	//    that peer drops our routes at once, as it should.
	//  - The stale paths go when the returning peer has sent End-of-RIB for
	//    all families (those it did not re-announce) or the restart timer
	//    expires — and also as soon as a reconnect attempt fails before
	//    Established (any move to Idle while the peer is restarting), e.g.
	//    when the restarted peer listens but has no neighbor configured yet,
	//    or dials while this side still holds its 5s idle after the drop.
	//  - GoBGP sends End-of-RIB only to peers that negotiated graceful
	//    restart, after the initial table.
	//  - The restarting side (LocalRestarting) is used only when the agent
	//    says this start is a restart (Config.Restarting), for sessions
	//    added in the first DeferralTime. GoBGP then sets the R bit and, on
	//    every tuple, the F bit (fsm.go:775-787: "always flag forwarding
	//    bit"), which is true for us: the kernel routes outlived the agent.
	//    It also withholds every update to every peer (needToAdvertise,
	//    server.go:1133) until every neighbor that is established and
	//    announced graceful restart sent End-of-RIB (server.go:1749, 1890;
	//    peer.go:297 — a peer that is down or has no GR is not waited for,
	//    and one that set the R bit itself counts as done, fsm.go:1433) or
	//    DeferralTime ran out (server.go:1775, 2643). Route selection itself is not deferred: BestPaths sees
	//    learned paths at once. Withholding delays our own announcements
	//    too — a prefix first advertised in that window goes out only when
	//    it ends — which is why DeferralTime is short (30s by default, not
	//    GoBGP's 360s); our old routes stay with the helpers meanwhile.
	if set.gracefulRestart {
		out.GracefulRestart = &api.GracefulRestart{
			Enabled:             true,
			RestartTime:         uint32(seconds(set.restartTime)),
			DeferralTime:        uint32(seconds(set.deferralTime)),
			NotificationEnabled: true,
			LocalRestarting:     restarting,
		}
	}
	return out
}

// peerFromAPI reads back the fields of a GoBGP neighbor that Apply owns.
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
	out := Peer{
		Name:                 p.GetConf().GetDescription(),
		Address:              addr.Unmap(),
		ASN:                  p.GetConf().GetPeerAsn(),
		Port:                 uint16(port),
		Passive:              p.GetTransport().GetPassiveMode(),
		Password:             p.GetConf().GetAuthPassword(),
		RouteReflectorClient: p.GetRouteReflector().GetRouteReflectorClient(),
		HoldTime:             time.Duration(p.GetTimers().GetConfig().GetHoldTime()) * time.Second,
		KeepaliveTime:        time.Duration(p.GetTimers().GetConfig().GetKeepaliveInterval()) * time.Second,
		ConnectRetry:         time.Duration(p.GetTimers().GetConfig().GetConnectRetry()) * time.Second,
		// DisablePeer changes the state, not the configuration; a neighbor
		// added with AdminDown has both.
		AdminDown: p.GetState().GetAdminState() == api.PeerState_DOWN || p.GetConf().GetAdminDown(),
	}
	if mh := p.GetEbgpMultihop(); mh.GetEnabled() {
		out.MultihopTTL = uint8(min(mh.GetMultihopTtl(), 255))
	}
	// GoBGP reports the address the session is bound to once connected,
	// else the configured one.
	if raw := p.GetTransport().GetLocalAddress(); raw != "" {
		if local, err := netip.ParseAddr(raw); err == nil {
			out.LocalAddress = local.Unmap()
		}
	}
	for _, a := range p.GetAfiSafis() {
		out.MaxPrefixes = max(out.MaxPrefixes, a.GetPrefixLimits().GetMaxPrefixes())
	}
	return out, nil
}

// normalizePeers validates desired peers: it fills the default port, and
// drops (with an error naming each) peers without a usable address or ASN,
// the speaker itself (self: its listen addresses and port), and repeated
// addresses after the first (GoBGP keys neighbors by address).
func normalizePeers(desired []Peer, self []netip.AddrPort) ([]Peer, error) {
	var errs []error
	seen := make(map[netip.Addr]bool, len(desired))
	out := make([]Peer, 0, len(desired))
	for _, p := range desired {
		var err error
		p.Address = p.Address.Unmap()
		switch {
		case !p.Address.IsValid() || p.Address.IsUnspecified():
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
		if err := checkPeerSettings(p); err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p, err))
			continue
		}
		p.AcceptPrefixes, err = acceptPrefixes(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", p, err))
		}
		p.LocalAddress = p.LocalAddress.Unmap()
		if p.Port == 0 {
			p.Port = DefaultListenPort
		}
		if slices.Contains(self, netip.AddrPortFrom(p.Address, p.Port)) {
			errs = append(errs, fmt.Errorf("peer %s: is this speaker itself", p))
			continue
		}
		seen[p.Address] = true
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// peerDiff is what Apply's peer step has to change in GoBGP.
type peerDiff struct {
	add      []Peer
	update   []Peer // the desired version of a peer whose settings changed
	recreate []Peer // the desired version of a peer to delete and add again
	remove   []Peer // as GoBGP has them
	disable  []Peer // the desired version of a peer to hold down (AdminDown)
}

// unchanged is the peers of want that d leaves as they are.
func (d peerDiff) unchanged(want []Peer) []Peer {
	touched := map[netip.Addr]bool{}
	for _, ps := range [][]Peer{d.add, d.update, d.recreate, d.remove, d.disable} {
		for _, p := range ps {
			touched[p.Address] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(want), func(p Peer) bool { return touched[p.Address] })
}

func (d peerDiff) empty() bool {
	return len(d.add) == 0 && len(d.update) == 0 && len(d.recreate) == 0 && len(d.remove) == 0 && len(d.disable) == 0
}

// diffPeers compares desired (normalized, resolved) peers with GoBGP's,
// keyed by address; what a changed field needs is peerFields' decision.
// Results are sorted by address.
func diffPeers(desired, actual []Peer) peerDiff {
	have := make(map[netip.Addr]Peer, len(actual))
	for _, p := range actual {
		have[p.Address] = p
	}
	var d peerDiff
	for _, p := range desired {
		cur, ok := have[p.Address]
		if !ok {
			d.add = append(d.add, p)
			continue
		}
		delete(have, p.Address)
		effect, _ := peerChange(cur, p)
		if effect >= effectUpdate && cur.AdminDown != p.AdminDown {
			// One step: the neighbor is added again in the wanted state.
			effect = effectRecreate
		}
		switch effect {
		case effectRecreate:
			d.recreate = append(d.recreate, p)
		case effectUpdate:
			d.update = append(d.update, p)
		case effectAdmin:
			if p.AdminDown {
				d.disable = append(d.disable, p)
			} else {
				d.recreate = append(d.recreate, p)
			}
		}
	}
	for _, p := range have {
		d.remove = append(d.remove, p)
	}
	byAddr := func(a, b Peer) int { return a.Address.Compare(b.Address) }
	slices.SortFunc(d.add, byAddr)
	slices.SortFunc(d.update, byAddr)
	slices.SortFunc(d.recreate, byAddr)
	slices.SortFunc(d.remove, byAddr)
	slices.SortFunc(d.disable, byAddr)
	return d
}

// checkPeerSettings reports the first session setting of p that cannot work.
func checkPeerSettings(p Peer) error {
	switch {
	case p.Kind != PeerNode && p.Kind != PeerUpstream:
		return fmt.Errorf("Kind: unknown kind %d", p.Kind)
	case p.LocalAddress.IsValid() && p.LocalAddress.Unmap().Is4() != p.Address.Is4():
		return fmt.Errorf("LocalAddress: %s is not of the peer's address family", p.LocalAddress)
	case p.LocalAddress.IsValid() && (p.LocalAddress.Zone() != "" || p.LocalAddress.IsUnspecified()):
		return fmt.Errorf("LocalAddress: %s cannot source a session", p.LocalAddress)
	case CheckHoldTime(p.HoldTime) != nil:
		return fmt.Errorf("HoldTime: %w", CheckHoldTime(p.HoldTime))
	case CheckKeepaliveTime(p.KeepaliveTime, p.HoldTime) != nil:
		return fmt.Errorf("KeepaliveTime: %w", CheckKeepaliveTime(p.KeepaliveTime, p.HoldTime))
	case CheckConnectRetry(p.ConnectRetry) != nil:
		return fmt.Errorf("ConnectRetry: %w", CheckConnectRetry(p.ConnectRetry))
	case p.BFD != (bfd.Timers{}) && p.BFD.Check() != nil:
		return fmt.Errorf("BFD: %w", p.BFD.Check())
	case len(p.Password) > maxPasswordLen:
		// The length only: the password itself is never printed.
		return fmt.Errorf("Password: %d bytes, at most %d", len(p.Password), maxPasswordLen)
	}
	return nil
}

// acceptPrefixes returns p's AcceptPrefixes masked, deduplicated and
// sorted, without the invalid ones (reported). Only node peers have them.
func acceptPrefixes(p Peer) ([]netip.Prefix, error) {
	if p.AcceptReflected && p.Kind != PeerNode {
		return nil, errors.New("AcceptReflected: only node peers can be route reflectors (upstream routes follow the policy)")
	}
	if len(p.AcceptPrefixes) == 0 {
		return nil, nil
	}
	if p.Kind != PeerNode {
		return nil, errors.New("AcceptPrefixes: only node peers have them (upstream routes follow the policy)")
	}
	if p.AcceptReflected {
		return nil, errors.New("AcceptPrefixes: a peer with AcceptReflected takes Policy.ReflectedPodCIDRs instead")
	}
	var errs []error
	out := make([]netip.Prefix, 0, len(p.AcceptPrefixes))
	for i, pfx := range p.AcceptPrefixes {
		if !pfx.IsValid() {
			errs = append(errs, fmt.Errorf("AcceptPrefixes[%d]: %q is not a prefix", i, pfx))
			continue
		}
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()).Masked()
		if !pfx.IsValid() {
			errs = append(errs, fmt.Errorf("AcceptPrefixes[%d]: not valid after unmapping", i))
			continue
		}
		out = append(out, pfx)
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out), errors.Join(errs...)
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
