package bgp

import (
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/server"
)

func TestBestChangesFromGoBGPsHook(t *testing.T) {
	s := &Speaker{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	learned := func(prefix, nextHop string) server.BestPath {
		return server.BestPath{Prefix: pfx(prefix), NextHop: addr(nextHop), Learned: true}
	}
	withdrawn := learned("172.16.0.2/32", "10.199.1.100")
	withdrawn.Withdrawal = true
	unreachable := learned("172.16.0.3/32", "10.199.1.100")
	unreachable.NextHopInvalid = true
	ours := learned("10.244.1.0/24", "10.199.1.11")
	ours.Learned = false
	noNextHop := learned("172.16.0.4/32", "10.199.1.100")
	noNextHop.NextHop = netip.Addr{}
	unspecified := learned("172.16.0.5/32", "0.0.0.0")

	tests := []struct {
		name  string
		paths []server.BestPath
		want  []BestChange
	}{
		{"an equal-cost set gives one change with every next hop",
			[]server.BestPath{learned("172.16.0.1/32", "10.199.1.100"), learned("172.16.0.1/32", "10.199.1.101")},
			[]BestChange{{Prefix: pfx("172.16.0.1/32"), NextHops: []netip.Addr{addr("10.199.1.100"), addr("10.199.1.101")}}}},
		{"a next hop twice in a set counts once",
			[]server.BestPath{learned("172.16.0.1/32", "10.199.1.100"), learned("172.16.0.1/32", "10.199.1.100")},
			[]BestChange{{Prefix: pfx("172.16.0.1/32"), NextHops: []netip.Addr{addr("10.199.1.100")}}}},
		{"a withdrawal leaves the prefix without next hops",
			[]server.BestPath{withdrawn}, []BestChange{{Prefix: pfx("172.16.0.2/32")}}},
		{"an unreachable next hop is no route",
			[]server.BestPath{unreachable}, []BestChange{{Prefix: pfx("172.16.0.3/32")}}},
		{"our own path is no route",
			[]server.BestPath{ours}, []BestChange{{Prefix: pfx("10.244.1.0/24")}}},
		{"a path without a next hop is skipped, its prefix still changes",
			[]server.BestPath{noNextHop}, []BestChange{{Prefix: pfx("172.16.0.4/32")}}},
		{"an unspecified next hop is skipped too, as the full pass skips it",
			[]server.BestPath{unspecified}, []BestChange{{Prefix: pfx("172.16.0.5/32")}}},
		{"IPv6 and several destinations in one call keep their order",
			[]server.BestPath{learned("2001:db8::/32", "2001:db8:ffff::1"), withdrawn, learned("172.16.0.1/32", "10.199.1.100")},
			[]BestChange{
				{Prefix: pfx("2001:db8::/32"), NextHops: []netip.Addr{addr("2001:db8:ffff::1")}},
				{Prefix: pfx("172.16.0.2/32")},
				{Prefix: pfx("172.16.0.1/32"), NextHops: []netip.Addr{addr("10.199.1.100")}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.bestChanges(nil, tt.paths); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("bestChanges = %+v, want %+v", got, tt.want)
			}
		})
	}
}
