package routes

import (
	"testing"

	"github.com/vishvananda/netlink"
)

func TestAnyOursTellsWhetherAnyTableHoldsARouteOfOurs(t *testing.T) {
	inTable := func(r netlink.Route, table int) netlink.Route { r.Table = table; return r }
	ours := kroute("10.244.2.0/24", "10.0.0.2", 2, Protocol)
	ours6 := kroute("fd00:244:2::/64", "2001:db8::2", 2, Protocol)
	static := kroute("10.244.8.0/24", "10.0.0.8", 2, netlink.RouteProtocol(4))
	boot := kroute("10.244.9.0/24", "10.0.0.9", 2, netlink.RouteProtocol(3))
	tests := []struct {
		name        string
		routes      []netlink.Route
		interrupted bool
		want        bool
		wantErr     bool
	}{
		{name: "none at all: a fresh node"},
		{name: "only others' routes", routes: []netlink.Route{static, boot, inTable(static, 100)}},
		{name: "one of ours in main", routes: []netlink.Route{static, ours, boot}, want: true},
		{name: "one of ours, IPv6", routes: []netlink.Route{static, ours6}, want: true},
		{name: "one of ours in another table only", routes: []netlink.Route{static, inTable(ours, 100)}, want: true},
		{name: "a dump that found one, interrupted", routes: []netlink.Route{ours}, interrupted: true, want: true},
		{name: "a dump that found none, interrupted: cannot tell", routes: []netlink.Route{static}, interrupted: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fakeNode(t)
			for _, r := range tt.routes {
				k.put(r)
			}
			k.interrupted = tt.interrupted
			got, err := anyOurs(k)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("anyOurs = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
