//go:build e2e

package e2eutil

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRoutesReadsPlainAndMultipathRoutes(t *testing.T) {
	const v4 = `[{"dst":"10.244.2.0/24","gateway":"10.199.1.12","dev":"eth0","protocol":"78","flags":[]},` +
		`{"dst":"198.51.100.0/24","protocol":"78","flags":[],"nexthops":[{"gateway":"10.199.1.254","dev":"eth0","weight":1,"flags":[]},{"gateway":"10.199.1.253","dev":"eth0","weight":1,"flags":[]}]},` +
		`{"dst":"10.198.0.1","gateway":"10.199.1.254","dev":"eth0","protocol":"78","flags":[]}]`
	const v6 = `[{"dst":"fd00:10:244:2::/64","gateway":"fd00:199:1::12","dev":"eth0","protocol":"78","flags":[]}]`
	got := Routes{}
	if err := parseRoutes(v4, "-4", got); err != nil {
		t.Fatal(err)
	}
	if err := parseRoutes(v6, "-6", got); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	for dst, want := range map[netip.Prefix][]netip.Addr{
		p("10.244.2.0/24"):      {a("10.199.1.12")},
		p("198.51.100.0/24"):    {a("10.199.1.253"), a("10.199.1.254")},
		p("10.198.0.1/32"):      {a("10.199.1.254")},
		p("fd00:10:244:2::/64"): {a("fd00:199:1::12")},
	} {
		if r, ok := got[dst]; !ok || !r.Is(want...) {
			t.Errorf("%s: got %v (present %v), want over %v", dst, r, ok, want)
		}
	}
	if r := got[p("198.51.100.0/24")]; !r.Multipath || r.Via().IsValid() || r.Is(a("10.199.1.254")) {
		t.Errorf("the multipath route reads as %v (via %v)", r, r.Via())
	}
	if len(got) != 4 {
		t.Errorf("got %d routes, want 4:\n%s", len(got), got)
	}
	if err := parseRoutes(`[{"dst":"10.244.2.0/24","gateway":"10.199.1.13"}]`, "-4", got); err == nil || !strings.Contains(err.Error(), "two routes") {
		t.Errorf("a second route to one destination: %v, want an error", err)
	}
}
