package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
)

func peer(name, addr string, asn uint32, port uint16) Peer {
	return Peer{Name: name, Address: netip.MustParseAddr(addr), ASN: asn, Port: port}
}

func TestNormalizePeersKeepsUsablePeersAndNamesTheOthers(t *testing.T) {
	self := []netip.AddrPort{netip.MustParseAddrPort("10.199.1.11:179"), netip.MustParseAddrPort("[fd00:199:1::11]:179")}
	tests := []struct {
		name    string
		in      []Peer
		want    []Peer
		errSubs []string
	}{
		{
			name: "port 0 means 179",
			in:   []Peer{peer("n2", "10.199.1.12", 64512, 0)},
			want: []Peer{peer("n2", "10.199.1.12", 64512, 179)},
		},
		{
			name: "IPv4-mapped IPv6 addresses become IPv4",
			in:   []Peer{peer("n2", "::ffff:10.199.1.12", 64512, 179)},
			want: []Peer{peer("n2", "10.199.1.12", 64512, 179)},
		},
		{
			name:    "invalid entries are skipped, valid ones kept",
			in:      []Peer{{Name: "noaddr", ASN: 1}, peer("n0", "10.199.1.13", 0, 0), peer("n2", "10.199.1.12", 64512, 0)},
			want:    []Peer{peer("n2", "10.199.1.12", 64512, 179)},
			errSubs: []string{`peer "noaddr": no address`, "peer n0 (10.199.1.13): 0 is not a valid AS number"},
		},
		{
			name:    "the speaker itself is not a peer",
			in:      []Peer{peer("me", "10.199.1.11", 64512, 0)},
			want:    []Peer{},
			errSubs: []string{"peer me (10.199.1.11): is this speaker itself"},
		},
		{
			name:    "the speaker's IPv6 listen address is not a peer either",
			in:      []Peer{peer("me6", "fd00:199:1::11", 64512, 0)},
			want:    []Peer{},
			errSubs: []string{"peer me6 (fd00:199:1::11): is this speaker itself"},
		},
		{
			name: "the same address on another port is another speaker",
			in:   []Peer{peer("other", "10.199.1.11", 64512, 1179)},
			want: []Peer{peer("other", "10.199.1.11", 64512, 1179)},
		},
		{
			name:    "a repeated address keeps the first",
			in:      []Peer{peer("a", "10.199.1.12", 64512, 0), peer("b", "10.199.1.12", 65000, 0)},
			want:    []Peer{peer("a", "10.199.1.12", 64512, 179)},
			errSubs: []string{"peer b (10.199.1.12): address listed more than once"},
		},
		{
			name: "a route reflector of ours takes the reflected pod CIDRs, not a list of its own",
			in: []Peer{with(peer("rr", "10.199.1.12", 64512, 0), func(p *Peer) {
				p.Kind, p.AcceptReflected, p.AcceptPrefixes = PeerNode, true, []netip.Prefix{netip.MustParsePrefix("10.244.2.0/24")}
			})},
			want:    []Peer{with(peer("rr", "10.199.1.12", 64512, 179), func(p *Peer) { p.Kind, p.AcceptReflected = PeerNode, true })},
			errSubs: []string{"peer rr (10.199.1.12): AcceptPrefixes: a peer with AcceptReflected takes Policy.ReflectedPodCIDRs instead"},
		},
		{
			name:    "only a node peer can be a route reflector of ours",
			in:      []Peer{with(peer("tor", "10.199.1.1", 65000, 0), func(p *Peer) { p.Kind, p.AcceptReflected = PeerUpstream, true })},
			want:    []Peer{with(peer("tor", "10.199.1.1", 65000, 179), func(p *Peer) { p.Kind, p.AcceptReflected = PeerUpstream, true })},
			errSubs: []string{"peer tor (10.199.1.1): AcceptReflected: only node peers can be route reflectors"},
		},
		{
			name:    "zoned addresses are refused",
			in:      []Peer{peer("ll", "fe80::1%eth0", 64512, 0)},
			want:    []Peer{},
			errSubs: []string{"zoned addresses are not supported"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizePeers(tt.in, self)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("peers = %v, want %v", got, tt.want)
			}
			if len(tt.errSubs) == 0 && err != nil {
				t.Errorf("error = %v, want none", err)
			}
			for _, sub := range tt.errSubs {
				if err == nil || !strings.Contains(err.Error(), sub) {
					t.Errorf("error = %v, want it to contain %q", err, sub)
				}
			}
		})
	}
}

func withPassive(p Peer) Peer {
	p.Passive = true
	return p
}

func TestDiffPeersAddsUpdatesRecreatesAndRemovesByAddress(t *testing.T) {
	n2 := peer("n2", "10.199.1.12", 64512, 179)
	n3 := peer("n3", "10.199.1.13", 64512, 179)
	tor := peer("tor", "10.199.1.1", 65000, 179)
	tests := []struct {
		name                       string
		desired, actual            []Peer
		add, upd, recreate, remove []Peer
	}{
		{name: "nothing to nothing"},
		{name: "all new", desired: []Peer{n3, n2}, add: []Peer{n2, n3}},
		{name: "all gone", actual: []Peer{n2, tor}, remove: []Peer{tor, n2}},
		{name: "same set", desired: []Peer{n2, n3}, actual: []Peer{n3, n2}},
		{
			name:    "ASN change is an update",
			desired: []Peer{peer("tor", "10.199.1.1", 65001, 179)}, actual: []Peer{tor},
			upd: []Peer{peer("tor", "10.199.1.1", 65001, 179)},
		},
		{
			name:    "port change is an update",
			desired: []Peer{peer("n2", "10.199.1.12", 64512, 1179)}, actual: []Peer{n2},
			upd: []Peer{peer("n2", "10.199.1.12", 64512, 1179)},
		},
		{
			name:    "renamed node is an update",
			desired: []Peer{peer("n2-new", "10.199.1.12", 64512, 179)}, actual: []Peer{n2},
			upd: []Peer{peer("n2-new", "10.199.1.12", 64512, 179)},
		},
		{name: "mixed", desired: []Peer{n2, tor}, actual: []Peer{n3, n2}, add: []Peer{tor}, remove: []Peer{n3}},
		{
			name:    "route-reflector client change re-creates the neighbor",
			desired: []Peer{with(n2, func(p *Peer) { p.RouteReflectorClient = true })}, actual: []Peer{n2},
			recreate: []Peer{with(n2, func(p *Peer) { p.RouteReflectorClient = true })},
		},
		{
			name:    "kind and accepted prefixes are policy, no session change",
			desired: []Peer{with(n2, func(p *Peer) { p.Kind, p.AcceptPrefixes = PeerUpstream, nil })}, actual: []Peer{n2},
		},
		{
			name:    "hold time and max prefixes change is one update",
			desired: []Peer{with(n2, func(p *Peer) { p.HoldTime, p.MaxPrefixes = 9*time.Second, 10 })}, actual: []Peer{n2},
			upd: []Peer{with(n2, func(p *Peer) { p.HoldTime, p.MaxPrefixes = 9*time.Second, 10 })},
		},
		{
			name:    "route-reflector client and port change is a re-creation only",
			desired: []Peer{with(n2, func(p *Peer) { p.RouteReflectorClient, p.Port = true, 1179 })}, actual: []Peer{n2},
			recreate: []Peer{with(n2, func(p *Peer) { p.RouteReflectorClient, p.Port = true, 1179 })},
		},
		{
			name:    "a local address left to the kernel is whatever it picked",
			desired: []Peer{n2}, actual: []Peer{with(n2, func(p *Peer) { p.LocalAddress = netip.MustParseAddr("10.199.1.11") })},
		},
		{
			name:    "a chosen local address must be the one",
			desired: []Peer{with(n2, func(p *Peer) { p.LocalAddress = netip.MustParseAddr("10.199.1.21") })},
			actual:  []Peer{with(n2, func(p *Peer) { p.LocalAddress = netip.MustParseAddr("10.199.1.11") })},
			upd:     []Peer{with(n2, func(p *Peer) { p.LocalAddress = netip.MustParseAddr("10.199.1.21") })},
		},
		{
			name:    "passive flag change is an update",
			desired: []Peer{withPassive(n2)}, actual: []Peer{n2},
			upd: []Peer{withPassive(n2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diffPeers(tt.desired, tt.actual)
			if !reflect.DeepEqual(d.add, tt.add) || !reflect.DeepEqual(d.update, tt.upd) ||
				!reflect.DeepEqual(d.recreate, tt.recreate) || !reflect.DeepEqual(d.remove, tt.remove) {
				t.Fatalf("diff = add %v update %v recreate %v remove %v; want add %v update %v recreate %v remove %v",
					d.add, d.update, d.recreate, d.remove, tt.add, tt.upd, tt.recreate, tt.remove)
			}
			// Applying the diff gives the desired set: a second diff is empty.
			if again := diffPeers(tt.desired, applyPeerDiff(tt.actual, d)); !again.empty() {
				t.Fatalf("second diff after applying the first = %+v, want empty", again)
			}
		})
	}
}

// applyPeerDiff is what GoBGP's peer list becomes after Apply applied d.
func applyPeerDiff(actual []Peer, d peerDiff) []Peer {
	byAddr := map[netip.Addr]Peer{}
	for _, p := range actual {
		byAddr[p.Address] = p
	}
	for _, p := range d.remove {
		delete(byAddr, p.Address)
	}
	for _, p := range append(append(append([]Peer{}, d.update...), d.recreate...), d.add...) {
		byAddr[p.Address] = p
	}
	out := []Peer{}
	for _, p := range byAddr {
		out = append(out, p)
	}
	return out
}

func TestAPIPeerRendersSessionSettings(t *testing.T) {
	set := peerSettings{
		localAddress:    netip.MustParseAddr("10.199.1.11"),
		gracefulRestart: true,
		restartTime:     120 * time.Second,
		deferralTime:    30 * time.Second,
		connectRetry:    5 * time.Second,
	}
	got := apiPeer(set, peer("n2", "10.199.1.12", 64512, 179), false)
	want := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: "10.199.1.12", PeerAsn: 64512, Description: "n2"},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry: 5, HoldTime: 90, KeepaliveInterval: 30,
		}},
		Transport: &api.Transport{RemotePort: 179, LocalAddress: "10.199.1.11"},
		AfiSafis: []*api.AfiSafi{{
			Config:            &api.AfiSafiConfig{Family: familyIPv4, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 120, DeferralTime: 30, NotificationEnabled: true},
	}
	if !proto.Equal(got, want) {
		t.Errorf("apiPeer =\n%v\nwant\n%v", got, want)
	}
}

func TestAPIPeerSourcesSessionsFromTheListenAddressOnlyInItsFamily(t *testing.T) {
	set := peerSettings{localAddress: netip.MustParseAddr("10.199.1.11")}
	if got := apiPeer(set, peer("v6", "fd00::12", 64512, 179), false).GetTransport().GetLocalAddress(); got != "" {
		t.Errorf("IPv6 peer with IPv4 listen address: local address %q, want none", got)
	}
	if got := apiPeer(peerSettings{}, peer("n2", "10.199.1.12", 64512, 179), false).GetTransport().GetLocalAddress(); got != "" {
		t.Errorf("no listen address: local address %q, want none", got)
	}
	dual := peerSettings{localAddress: netip.MustParseAddr("10.199.1.11"), localAddress6: netip.MustParseAddr("fd00:199:1::11")}
	if got := apiPeer(dual, peer("n2", "fd00:199:1::12", 64512, 179), false).GetTransport().GetLocalAddress(); got != "fd00:199:1::11" {
		t.Errorf("IPv6 peer on a dual-stack speaker: local address %q, want fd00:199:1::11", got)
	}
	if got := apiPeer(dual, peer("n2", "10.199.1.12", 64512, 179), false).GetTransport().GetLocalAddress(); got != "10.199.1.11" {
		t.Errorf("IPv4 peer on a dual-stack speaker: local address %q, want 10.199.1.11", got)
	}
}

func TestAPIPeerWithoutGracefulRestartAnnouncesNone(t *testing.T) {
	got := apiPeer(peerSettings{}, peer("n2", "10.199.1.12", 64512, 179), false)
	if got.GetGracefulRestart() != nil {
		t.Errorf("graceful restart = %v, want none", got.GetGracefulRestart())
	}
	for _, a := range got.GetAfiSafis() {
		if a.GetMpGracefulRestart() != nil {
			t.Errorf("family %v has graceful restart %v, want none", a.GetConfig().GetFamily(), a.GetMpGracefulRestart())
		}
	}
}

func TestPeerFromAPIReadsBackWhatAPIPeerWrote(t *testing.T) {
	set := peerSettings{localAddress: netip.MustParseAddr("10.199.1.11"), connectRetry: time.Second, clusterID: "10.255.0.1"}
	full := Peer{
		Name: "tor", Address: netip.MustParseAddr("10.199.1.1"), ASN: 65000, Port: 1179, Passive: true,
		Kind: PeerUpstream, LocalAddress: netip.MustParseAddr("10.199.1.21"), MultihopTTL: 3,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectRetry: 7 * time.Second, Password: "s3cret",
		RouteReflectorClient: true, MaxPrefixes: 100,
	}
	for _, p := range []Peer{
		peer("n2", "10.199.1.12", 64512, 179),
		peer("tor", "fd00::1", 65000, 1179),
		full,
	} {
		want := set.resolve(p)
		got, err := peerFromAPI(apiPeer(set, p, false))
		if effect, fields := peerChange(got, want); err != nil || effect != effectNone {
			t.Errorf("peerFromAPI(apiPeer(%v)) = %+v, %v; want %+v (differs in %v)", p, got, err, want, fields)
		}
	}
}

func TestPeerFromAPIDefaultsThePortAndRejectsBadAddresses(t *testing.T) {
	got, err := peerFromAPI(&api.Peer{Conf: &api.PeerConf{NeighborAddress: "10.0.0.1", PeerAsn: 1}})
	if err != nil || got.Port != 179 {
		t.Errorf("neighbor without port = %v, %v; want port 179", got, err)
	}
	if _, err := peerFromAPI(&api.Peer{Conf: &api.PeerConf{NeighborAddress: "eth0"}}); err == nil || !strings.Contains(err.Error(), `"eth0"`) {
		t.Errorf("neighbor by interface name: error %v, want one naming it", err)
	}
	if _, err := peerFromAPI(nil); err == nil {
		t.Error("nil neighbor: no error")
	}
	bad := &api.Peer{Conf: &api.PeerConf{NeighborAddress: "10.0.0.1"}, Transport: &api.Transport{RemotePort: 70000}}
	if _, err := peerFromAPI(bad); err == nil {
		t.Error("port 70000: no error")
	}
}
