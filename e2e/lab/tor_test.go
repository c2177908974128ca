package lab

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestRackAddressingKeepsNodeNumbersAndRack1IsTheFlatFabric(t *testing.T) {
	tests := []struct {
		n, racks int
		rack     int
		ip       string
		bridge   string
		tor1     string
	}{
		{1, 2, 1, "10.199.1.11", "fabric0", "10.199.1.254"},
		{2, 2, 2, "10.199.2.12", "fabric1", "10.199.2.254"},
		{3, 2, 1, "10.199.1.13", "fabric0", "10.199.1.254"},
		{4, 3, 1, "10.199.1.14", "fabric0", "10.199.1.254"},
		{MaxNodes, MaxRacks, 8, "10.199.8.210", "fabric7", "10.199.8.254"},
	}
	for _, tt := range tests {
		t.Run(NodeName(tt.n), func(t *testing.T) {
			rack := NodeRack(tt.n, tt.racks)
			if rack != tt.rack {
				t.Fatalf("NodeRack(%d, %d) = %d, want %d", tt.n, tt.racks, rack, tt.rack)
			}
			ip := RackNodeIP(rack, tt.n)
			if ip != netip.MustParseAddr(tt.ip) || !RackPrefix(rack).Contains(ip) || !RacksPrefix.Contains(ip) {
				t.Errorf("RackNodeIP(%d, %d) = %s, want %s inside %s", rack, tt.n, ip, tt.ip, RackPrefix(rack))
			}
			if got := rackBridge(rack); got != tt.bridge {
				t.Errorf("rackBridge(%d) = %s, want %s", rack, got, tt.bridge)
			}
			if got := ToRAddr(1, rack); got != netip.MustParseAddr(tt.tor1) {
				t.Errorf("ToRAddr(1, %d) = %s, want %s", rack, got, tt.tor1)
			}
		})
	}
	if RackPrefix(1) != FabricPrefix || RackNodeIP(1, 7) != NodeIP(7) {
		t.Errorf("rack 1 = %s / node7 %s, want the flat fabric %s / %s", RackPrefix(1), RackNodeIP(1, 7), FabricPrefix, NodeIP(7))
	}
	// Interface names must fit Linux's 15 characters at the largest numbers.
	for _, name := range []string{torPort(MaxToRs, MaxRacks), torLeg(MaxRacks), rackBridge(MaxRacks)} {
		if len(name) > 15 {
			t.Errorf("interface name %q is longer than 15 characters", name)
		}
	}
	if last := ToRAddr(MaxToRs, 1); last.As4()[3] <= NodeIP(MaxNodes).As4()[3] {
		t.Errorf("ToR address %s collides with node addresses up to %s", last, NodeIP(MaxNodes))
	}
}

func TestRackOptionsNeedRacksForToRsAndValidPasswords(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		tors    int
		wantErr bool
	}{
		{name: "flat lab has no ToR", in: Options{}, tors: 0},
		{name: "racks get one ToR by default", in: Options{Racks: 2}, tors: 1},
		{name: "two ToRs", in: Options{Racks: 2, ToRs: 2}, tors: 2},
		{name: "ToRs without racks", in: Options{ToRs: 1}, wantErr: true},
		{name: "password without racks", in: Options{ToRPasswords: map[int]string{1: "x"}}, wantErr: true},
		{name: "too many racks", in: Options{Racks: MaxRacks + 1}, wantErr: true},
		{name: "too many ToRs", in: Options{Racks: 1, ToRs: MaxToRs + 1}, wantErr: true},
		{name: "password with a space", in: Options{Racks: 1, ToRPasswords: map[int]string{1: "a b"}}, wantErr: true},
		{name: "password of node 0", in: Options{Racks: 1, ToRPasswords: map[int]string{0: "pw"}}, wantErr: true},
		{name: "good password", in: Options{Racks: 1, ToRPasswords: map[int]string{2: "s3cret!"}}, tors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got.ToRs != tt.tors {
				t.Errorf("ToRs = %d, want %d", got.ToRs, tt.tors)
			}
		})
	}
}

func TestARackedLabPlacesNodesAndToRsInEveryRack(t *testing.T) {
	l := newLab(Options{Dir: "/lab", Racks: 2, ToRs: 2}, "", Tools{})
	node2 := l.newNode(2)
	if node2.Rack != 2 || node2.IP != netip.MustParseAddr("10.199.2.12") {
		t.Errorf("node2 = rack %d ip %s, want rack 2 ip 10.199.2.12", node2.Rack, node2.IP)
	}
	flat := newLab(Options{Dir: "/lab"}, "", Tools{}).newNode(2)
	if flat.Rack != 0 || flat.IP != NodeIP(2) {
		t.Errorf("flat node2 = rack %d ip %s, want rack 0 ip %s", flat.Rack, flat.IP, NodeIP(2))
	}
	tors := newToRs(l.Opts)
	if len(tors) != 2 {
		t.Fatalf("newToRs = %d ToRs, want 2", len(tors))
	}
	want := []netip.Addr{netip.MustParseAddr("10.199.1.253"), netip.MustParseAddr("10.199.2.253")}
	if tors[1].Name != "lab-tor2" || !slices.Equal(tors[1].Addrs, want) || tors[1].RouterID != want[0] || tors[1].Dir != "/lab/tor2" {
		t.Errorf("ToR 2 = %+v, want lab-tor2 with %v in /lab/tor2", tors[1], want)
	}
}

func TestToRConfigAcceptsEveryRackAndSetsPerNodePasswords(t *testing.T) {
	l := newLab(Options{Dir: "/lab", Racks: 2, ToRPasswords: map[int]string{2: "s3cret"}}, "", Tools{})
	l.Opts.ToRs = 1
	got := renderBgpdConfig(newToRs(l.Opts)[0], torPeers(l.Opts))
	want := `! written by nodebgp's lab
hostname lab-tor1
router bgp 65000
 bgp router-id 10.199.1.254
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp graceful-restart
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as external
 bgp listen range 10.199.1.0/24 peer-group NODES
 bgp listen range 10.199.2.0/24 peer-group NODES
 neighbor 10.199.2.12 peer-group NODES
 neighbor 10.199.2.12 password s3cret
 address-family ipv4 unicast
  neighbor NODES activate
  maximum-paths 16
 exit-address-family
exit
`
	if got != want {
		t.Errorf("bgpd.conf:\n%s\nwant:\n%s", got, want)
	}
}

func TestDualStackToRConfigKeepsEachFamilyOnItsOwnSessions(t *testing.T) {
	l := newLab(Options{Dir: "/lab", Racks: 2, ToRs: 1, DualStack: true}, "", Tools{})
	got := renderBgpdConfig(newToRs(l.Opts)[0], nil)
	for _, want := range []string{
		" neighbor NODES6 remote-as external\n",
		" bgp listen range fd00:199:1::/64 peer-group NODES6\n",
		" bgp listen range fd00:199:2::/64 peer-group NODES6\n",
		" address-family ipv4 unicast\n  neighbor NODES activate\n  no neighbor NODES6 activate\n",
		" address-family ipv6 unicast\n  neighbor NODES6 activate\n  maximum-paths 16\n exit-address-family\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bgpd.conf lacks %q:\n%s", want, got)
		}
	}
}

func TestFRRDaemonsRunAsOneInstancePerDir(t *testing.T) {
	got := strings.Join(frrArgs(frrBgpd, "/lab/tor1", "bgpd.conf"), " ")
	want := "/usr/lib/frr/bgpd -u root -g frrvty -f /lab/tor1/bgpd.conf -i /lab/tor1/bgpd.pid -z /lab/tor1/zserv.api --vty_socket /lab/tor1 --log stdout"
	if got != want {
		t.Errorf("frrArgs = %s\nwant %s", got, want)
	}
}

// The fixtures are FRR 8.4.4's own output (two FRR instances: the ToR, AS
// 65000, and a neighbor, AS 64512, announcing with communities).
func TestToRTableReadsFRRsDetailJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/frr-bgp-ipv4-unicast-json-detail.json")
	if err != nil {
		t.Fatal(err)
	}
	table, err := parseToRTable(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != 3 {
		t.Errorf("table has %d prefixes, want 3: %v", len(table), table)
	}
	learned := table[netip.MustParsePrefix("10.244.2.0/24")]
	if len(learned) != 1 {
		t.Fatalf("10.244.2.0/24 has %d paths, want 1", len(learned))
	}
	p := learned[0]
	if !p.Best || !p.Valid || p.Local || p.Stale ||
		!slices.Equal(p.NextHops, []netip.Addr{netip.MustParseAddr("10.199.9.2")}) ||
		!slices.Equal(p.ASPath, []uint32{64512}) ||
		!slices.Equal(p.Communities, []string{"64512:100", "64512:200"}) ||
		!slices.Equal(p.LargeCommunities, []string{"64512:1:2"}) ||
		p.From != netip.MustParseAddr("10.199.9.2") {
		t.Errorf("10.244.2.0/24 path = %+v", p)
	}
	own := table[netip.MustParsePrefix("10.244.200.0/25")]
	if len(own) != 1 || !own[0].Local || !own[0].Best || len(own[0].ASPath) != 0 ||
		!slices.Equal(own[0].NextHops, []netip.Addr{netip.IPv4Unspecified()}) {
		t.Errorf("10.244.200.0/25 = %+v, want one local best path via 0.0.0.0", own)
	}
}

func TestToRTableReadsTheNestedPathsOfLaterFRRs(t *testing.T) {
	data := `{"routes":{"10.0.0.0/24":{"prefix":"10.0.0.0/24","paths":[{"valid":true,"bestpath":{"overall":true},"stale":true,"nexthops":[{"ip":"10.199.1.11"}],"aspath":{"segments":[{"list":[64512]}]}}]}}}`
	table, err := parseToRTable([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	p := table[netip.MustParsePrefix("10.0.0.0/24")]
	if len(p) != 1 || !p[0].Best || !p[0].Stale || p[0].NextHops[0] != netip.MustParseAddr("10.199.1.11") {
		t.Errorf("10.0.0.0/24 = %+v", p)
	}
}

func TestToRParsersRejectWhatIsNotFRRJSON(t *testing.T) {
	for _, data := range []string{`% Unknown command`, `{"routes":{"nonsense":[]}}`, `{"routes":{"10.0.0.0/24":[{"nexthops":[{"ip":"x"}]}]}}`} {
		if _, err := parseToRTable([]byte(data)); err == nil {
			t.Errorf("parseToRTable(%q) succeeded", data)
		}
	}
	for _, data := range []string{`[]`, `{"not-an-ip":{}}`} {
		if _, err := parseToRNeighbors([]byte(data)); err == nil {
			t.Errorf("parseToRNeighbors(%q) succeeded", data)
		}
	}
}

func TestToRNeighborsReadsStateDynamicPeersAndNotifications(t *testing.T) {
	data, err := os.ReadFile("testdata/frr-bgp-neighbors.json")
	if err != nil {
		t.Fatal(err)
	}
	nbs, err := parseToRNeighbors(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []ToRNeighbor{
		{Address: netip.MustParseAddr("10.199.9.2"), RemoteAS: 64512, State: "Established", Dynamic: true,
			PrefixesAccepted: 1, RemoteGRMode: "Restart", LastReset: "No AFI/SAFI activated for peer"},
		{Address: netip.MustParseAddr("10.199.9.77"), State: "Active", RemoteGRMode: "NotApplicable", LastReset: "Waiting for peer OPEN"},
	}
	if !slices.Equal(nbs, want) {
		t.Errorf("neighbors =\n%+v\nwant\n%+v", nbs, want)
	}
	if !nbs[0].Established() || nbs[1].Established() {
		t.Errorf("Established() = %v, %v; want true, false", nbs[0].Established(), nbs[1].Established())
	}

	data, err = os.ReadFile("testdata/frr-bgp-neighbors-notification.json")
	if err != nil {
		t.Fatal(err)
	}
	nbs, err = parseToRNeighbors(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(nbs) != 1 || nbs[0].LastNotification != "OPEN Message Error/Bad Peer AS" || nbs[0].State != "Idle" {
		t.Errorf("refused neighbor = %+v, want Idle with the Bad Peer AS notification", nbs)
	}
}
