package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// hostRoutes is n /32s from 172.16.0.0, every other one via nextHop (the
// rest via the default).
func hostRoutes(n int, nextHop netip.Addr) []route {
	out := make([]route, n)
	for i := range out {
		a := netip.AddrFrom4([4]byte{172, byte(16 + i>>16), byte(i >> 8), byte(i)})
		out[i] = route{prefix: netip.PrefixFrom(a, 32)}
		if i%2 == 1 {
			out[i].nextHop = nextHop
		}
	}
	return out
}

// unpack parses a run of UPDATEs back into their prefixes and next hops.
func unpack(t *testing.T, b []byte) (announced map[netip.Prefix]netip.Addr, withdrawn []netip.Prefix, messages int) {
	t.Helper()
	announced = map[netip.Prefix]netip.Addr{}
	for len(b) > 0 {
		if len(b) < bgp.BGP_HEADER_LENGTH {
			t.Fatalf("%d bytes left, less than a header", len(b))
		}
		length := int(b[16])<<8 | int(b[17])
		if length > maxMessage {
			t.Fatalf("an UPDATE of %d bytes, more than %d", length, maxMessage)
		}
		m, err := bgp.ParseBGPMessage(b[:length])
		if err != nil {
			t.Fatalf("message %d does not parse: %v", messages, err)
		}
		u := m.Body.(*bgp.BGPUpdate)
		var nh netip.Addr
		for _, a := range u.PathAttributes {
			if n, ok := a.(*bgp.PathAttributeNextHop); ok {
				nh, _ = netip.AddrFromSlice(n.Value.To4())
			}
		}
		for _, p := range u.NLRI {
			announced[netip.MustParsePrefix(p.String())] = nh
		}
		for _, p := range u.WithdrawnRoutes {
			withdrawn = append(withdrawn, netip.MustParsePrefix(p.String()))
		}
		b, messages = b[length:], messages+1
	}
	return announced, withdrawn, messages
}

func TestPackingFillsEachUpdate(t *testing.T) {
	def, other := netip.MustParseAddr("10.199.1.100"), netip.MustParseAddr("10.199.1.200")
	tests := []struct {
		name         string
		routes       int
		wantAnnounce int // UPDATEs announcing them: per next hop, as many /32s as fit
		wantWithdraw int
	}{
		{"one route is one UPDATE each way", 1, 1, 1},
		{"two next hops are two UPDATEs", 2, 2, 1},
		{"2,000 /32s over two next hops: 810 a message announced, 814 withdrawn", 2000, 4, 3},
		{"100,000 /32s", 100_000, 2 * 62, 123},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes := hostRoutes(tt.routes, other)
			b, err := packAnnouncements(routes, def, 65100)
			if err != nil {
				t.Fatal(err)
			}
			announced, _, messages := unpack(t, b)
			if messages != tt.wantAnnounce {
				t.Errorf("announced in %d UPDATEs, want %d", messages, tt.wantAnnounce)
			}
			if len(announced) != len(routes) {
				t.Fatalf("%d prefixes announced, want %d", len(announced), len(routes))
			}
			for _, r := range routes {
				want := r.nextHop
				if !want.IsValid() {
					want = def
				}
				if got := announced[r.prefix]; got != want {
					t.Fatalf("%s announced via %s, want %s", r.prefix, got, want)
				}
			}
			b, err = packWithdrawals(routes)
			if err != nil {
				t.Fatal(err)
			}
			_, withdrawn, messages := unpack(t, b)
			if messages != tt.wantWithdraw || len(withdrawn) != len(routes) {
				t.Errorf("withdrew %d prefixes in %d UPDATEs, want %d in %d", len(withdrawn), messages, len(routes), tt.wantWithdraw)
			}
		})
	}
}

func TestPackingRefusesIPv6(t *testing.T) {
	routes := []route{{prefix: netip.MustParsePrefix("2001:db8::/64")}}
	if _, err := packAnnouncements(routes, netip.MustParseAddr("10.0.0.1"), 65100); err == nil || !strings.Contains(err.Error(), "2001:db8::/64") {
		t.Errorf("announcing an IPv6 prefix: err = %v, want one naming it", err)
	}
	if _, err := packWithdrawals(routes); err == nil || !strings.Contains(err.Error(), "2001:db8::/64") {
		t.Errorf("withdrawing an IPv6 prefix: err = %v, want one naming it", err)
	}
}

// lineRecorder is the packed speaker's stdout as a channel of lines.
type lineRecorder chan string

func (l lineRecorder) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		l <- line
	}
	return len(b), nil
}

func (l lineRecorder) expect(t *testing.T, prefix string) {
	t.Helper()
	select {
	case line := <-l:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("line %q, want %q", line, prefix)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q line in 10s", prefix)
	}
}

// freePort is a TCP port on 127.0.0.1 nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGoBGP is a GoBGP speaker on 127.0.0.1:port, AS 64512, stopped when
// the test ends.
func startGoBGP(ctx context.Context, t *testing.T, port int) *server.BgpServer {
	t.Helper()
	logger := gobgplog.NewDefaultLogger()
	logger.SetLevel(gobgplog.ErrorLevel)
	s := server.NewBgpServer(server.LoggerOption(logger))
	go s.Serve()
	t.Cleanup(s.Stop)
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 64512, RouterId: "192.0.2.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// addPackedPeer configures the packed speaker (127.0.0.1, AS 65100) as a
// passive peer of s: it waits for the speaker to dial.
func addPackedPeer(ctx context.Context, t *testing.T, s *server.BgpServer) {
	t.Helper()
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65100},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
}

// A peer that closes the speaker's connections until it has the speaker in
// its configuration (GoBGP closes a connection from an address it has no
// peer for) gets the session on a later attempt.
func TestPackedSpeakerTriesAgainUntilThePeerTakesIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port := freePort(t)
	s := startGoBGP(ctx, t, port)
	cfg := config{
		routerID: netip.MustParseAddr("127.0.0.1"), peer: netip.MustParseAddr("127.0.0.1"), peerPort: port,
		nextHop: netip.MustParseAddr("10.199.1.100"), asn: 65100, peerASN: 64512, prefixes: hostRoutes(10, netip.Addr{}),
	}
	lines := make(lineRecorder, 16)
	sp, err := startPacked(ctx, cfg, &lineWriter{w: lines})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.stop()
	time.Sleep(1500 * time.Millisecond) // a refused attempt or two
	select {
	case line := <-lines:
		t.Fatalf("line %q before the peer was configured", line)
	default:
	}
	addPackedPeer(ctx, t, s)
	lines.expect(t, "established")
}

// A real GoBGP on 127.0.0.1 takes the packed speaker's routes: all of them,
// with their next hops, in a handful of UPDATEs, and loses them again on the
// withdrawals, a range at a time or all at once.
func TestPackedSpeakerAgainstGoBGP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port := freePort(t)
	s := startGoBGP(ctx, t, port)
	addPackedPeer(ctx, t, s)

	const n = 2000
	other := netip.MustParseAddr("10.199.1.200")
	cfg := config{
		routerID: netip.MustParseAddr("127.0.0.1"), peer: netip.MustParseAddr("127.0.0.1"), peerPort: port,
		nextHop: netip.MustParseAddr("10.199.1.100"), asn: 65100, peerASN: 64512, prefixes: hostRoutes(n, other),
	}
	lines := make(lineRecorder, 16)
	sp, err := startPacked(ctx, cfg, &lineWriter{w: lines})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.stop()
	lines.expect(t, "established")

	ribHas := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := s.GetTable(ctx, &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast})
			if err != nil {
				t.Fatal(err)
			}
			if int(res.NumDestination) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GoBGP's RIB holds %d destinations after 10s, want %d", res.NumDestination, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	updatesReceived := func() uint64 {
		t.Helper()
		var got uint64
		err := s.ListPeer(ctx, &api.ListPeerRequest{Address: "127.0.0.1"}, func(p *api.Peer) {
			got = p.GetState().GetMessages().GetReceived().GetUpdate()
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	run := func(line string) {
		t.Helper()
		c, err := parseCommand(line, sp.count())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sp.run(ctx, c); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}

	run("announce")
	ribHas(n)
	if got := updatesReceived(); got != 4 {
		t.Errorf("GoBGP received %d UPDATEs for %d prefixes over two next hops, want 4", got, n)
	}
	var wrongHop []string
	err = s.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast}, func(d *api.Destination) {
		p := netip.MustParsePrefix(d.Prefix)
		want := "10.199.1.100"
		if p.Addr().As4()[3]%2 == 1 {
			want = other.String()
		}
		if got := d.Paths[0].GetNeighborIp(); got != "127.0.0.1" {
			wrongHop = append(wrongHop, d.Prefix+" from "+got)
		}
		for _, a := range d.Paths[0].Pattrs {
			var nh api.NextHopAttribute
			if a.UnmarshalTo(&nh) == nil && nh.NextHop != want {
				wrongHop = append(wrongHop, d.Prefix+" via "+nh.NextHop)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(wrongHop) > 0 {
		t.Errorf("paths with the wrong source or next hop: %v", wrongHop[:min(5, len(wrongHop))])
	}

	run("withdraw 1990 100") // wraps past the end
	ribHas(n - 100)
	run("announce 1990 100")
	ribHas(n)
	run("withdraw")
	ribHas(0)
	if got := updatesReceived(); got != 4+1+2+3 {
		t.Errorf("GoBGP received %d UPDATEs in all, want 10 (4 + 1 + 2 + 3: the range announced spans both next hops)", got)
	}
}
