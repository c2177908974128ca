package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestDesiredPathsNormalizeAndReportUnannounceablePaths(t *testing.T) {
	p := netip.MustParsePrefix
	nh4 := netip.MustParseAddr("10.199.1.11")
	tests := []struct {
		name    string
		in      []Path
		want    []Path
		errSubs []string
	}{
		{name: "nothing to advertise", want: []Path{}},
		{
			name: "sorted, deduplicated, masked",
			in:   []Path{path("10.244.2.0/24", "10.199.1.11"), path("10.244.1.9/24", "10.199.1.11"), path("10.244.2.0/24", "10.199.1.11")},
			want: []Path{path("10.244.1.0/24", "10.199.1.11"), path("10.244.2.0/24", "10.199.1.11")},
		},
		{
			name: "dual-stack: each family with its own next hop",
			in:   []Path{path("fd00:10:244:1::/64", "fd00:199:1::11"), path("10.244.1.0/24", "10.199.1.11")},
			want: []Path{path("10.244.1.0/24", "10.199.1.11"), path("fd00:10:244:1::/64", "fd00:199:1::11")},
		},
		{
			name:    "IPv6 prefix with an IPv4 next hop is skipped",
			in:      []Path{path("fd00:244:1::/64", "10.199.1.11"), path("10.244.1.0/24", "10.199.1.11")},
			want:    []Path{path("10.244.1.0/24", "10.199.1.11")},
			errSubs: []string{"prefix fd00:244:1::/64: cannot be advertised with next hop 10.199.1.11"},
		},
		{
			name:    "a second next hop for one prefix is skipped",
			in:      []Path{path("10.244.1.0/24", "10.199.1.11"), path("10.244.1.0/24", "10.199.1.99")},
			want:    []Path{path("10.244.1.0/24", "10.199.1.11")},
			errSubs: []string{"prefix 10.244.1.0/24: next hop 10.199.1.99 besides 10.199.1.11"},
		},
		{
			name:    "invalid prefix is skipped",
			in:      []Path{{NextHop: nh4}, path("10.244.1.0/24", "10.199.1.11")},
			want:    []Path{path("10.244.1.0/24", "10.199.1.11")},
			errSubs: []string{"is not valid"},
		},
		{
			name:    "missing next hop",
			in:      []Path{{Prefix: p("10.244.1.0/24")}},
			errSubs: []string{"next hop"},
		},
		{
			name:    "unspecified next hop",
			in:      []Path{{Prefix: p("10.244.1.0/24"), NextHop: netip.IPv4Unspecified()}},
			errSubs: []string{`next hop "0.0.0.0"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := desiredPaths(tt.in)
			if len(got) != 0 || len(tt.want) != 0 {
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("paths = %v, want %v", got, tt.want)
				}
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

func TestAdvertiseDiffAddsMissingReplacesChangedAndWithdrawsExtra(t *testing.T) {
	a1 := path("10.244.1.0/24", "10.199.1.11")
	a1moved := path("10.244.1.0/24", "10.199.1.99")
	a2 := path("10.244.2.0/24", "10.199.1.11")
	v6 := path("fd00:244:1::/64", "fd00:199::11")
	tests := []struct {
		name           string
		desired, have  []Path
		add, withdrawn []Path
	}{
		{name: "nothing"},
		{name: "first advertisement", desired: []Path{a2, a1}, add: []Path{a1, a2}},
		{name: "unchanged", desired: []Path{a1, v6}, have: []Path{v6, a1}},
		{name: "everything withdrawn", have: []Path{a1, v6}, withdrawn: []Path{a1, v6}},
		{name: "new next hop replaces without a withdraw", desired: []Path{a1moved}, have: []Path{a1}, add: []Path{a1moved}},
		{name: "mixed", desired: []Path{a1, v6}, have: []Path{a1, a2}, add: []Path{v6}, withdrawn: []Path{a2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			add, withdraw := advertiseDiff(tt.desired, tt.have)
			if !reflect.DeepEqual(add, tt.add) || !reflect.DeepEqual(withdraw, tt.withdrawn) {
				t.Fatalf("diff = add %v withdraw %v; want add %v withdraw %v", add, withdraw, tt.add, tt.withdrawn)
			}
			// GoBGP after applying: added paths replace same-prefix ones.
			after := map[netip.Prefix]Path{}
			for _, p := range tt.have {
				after[p.Prefix] = p
			}
			for _, p := range withdraw {
				delete(after, p.Prefix)
			}
			for _, p := range add {
				after[p.Prefix] = p
			}
			var have []Path
			for _, p := range after {
				have = append(have, p)
			}
			if add2, withdraw2 := advertiseDiff(tt.desired, have); len(add2)+len(withdraw2) != 0 {
				t.Fatalf("second diff = add %v withdraw %v, want empty", add2, withdraw2)
			}
		})
	}
}

func TestPrefixesOfSplitsByFamily(t *testing.T) {
	paths := []Path{path("10.244.1.0/24", "10.0.0.1"), path("fd00::/64", "fd00::1"), path("10.244.2.0/24", "10.0.0.1")}
	if got, want := prefixesOf(paths, true), []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("10.244.2.0/24")}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv4 = %v, want %v", got, want)
	}
	if got, want := prefixesOf(paths, false), []netip.Prefix{netip.MustParsePrefix("fd00::/64")}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv6 = %v, want %v", got, want)
	}
}
