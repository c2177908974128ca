//go:build e2e

package e2eutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// RouteProto is the kernel route protocol of every route the agent installs.
const RouteProto = "78"

// Route is one kernel route of the agent's protocol: a plain route via one
// gateway, or a multipath (ECMP) route over several.
type Route struct {
	Gateways  []netip.Addr // sorted; one for a plain route, none for a route without a gateway
	Multipath bool         // the kernel shows it with nexthops
}

// Via is a plain route's gateway; the zero Addr for a multipath route or
// one without a gateway.
func (r Route) Via() netip.Addr {
	if r.Multipath || len(r.Gateways) != 1 {
		return netip.Addr{}
	}
	return r.Gateways[0]
}

// Is reports whether the route is exactly over gateways: a plain route via
// the one gateway, or multipath over all of them when there are several.
func (r Route) Is(gateways ...netip.Addr) bool {
	want := slices.Clone(gateways)
	slices.SortFunc(want, netip.Addr.Compare)
	return r.Multipath == (len(want) > 1) && slices.Equal(r.Gateways, want)
}

func (r Route) String() string {
	if r.Multipath {
		return fmt.Sprintf("multipath %v", r.Gateways)
	}
	if len(r.Gateways) == 0 {
		return "without gateway"
	}
	return fmt.Sprintf("via %s", r.Gateways[0])
}

// Routes are a namespace's routes of the agent's protocol, by destination.
type Routes map[netip.Prefix]Route

// Vias is the table as destination -> gateway, for comparing plain routes
// with a want map; a multipath route maps to the zero Addr.
func (rs Routes) Vias() map[netip.Prefix]netip.Addr {
	out := make(map[netip.Prefix]netip.Addr, len(rs))
	for p, r := range rs {
		out[p] = r.Via()
	}
	return out
}

// String lists the routes sorted by destination, one per line.
func (rs Routes) String() string {
	dsts := make([]netip.Prefix, 0, len(rs))
	for p := range rs {
		dsts = append(dsts, p)
	}
	slices.SortFunc(dsts, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	lines := make([]string, len(dsts))
	for i, p := range dsts {
		lines[i] = p.String() + " " + rs[p].String()
	}
	return strings.Join(lines, "\n")
}

// KernelRoutes reads the routes of the agent's protocol in a namespace, IPv4
// and IPv6, with `ip -j -4|-6 route show proto 78`. The kernel shows a
// multipath route as one entry with next hops,
// {"dst":"198.51.100.0/24","nexthops":[{"gateway":"10.199.1.253",...},...]};
// two entries for one destination (rather than one multipath route) are an
// error: the agent replaces its route, it never adds a second.
func KernelRoutes(ctx context.Context, netns string) (Routes, error) {
	got := Routes{}
	for _, family := range []string{"-4", "-6"} {
		out, err := Output(ctx, "ip", "-n", netns, "-j", family, "route", "show", "proto", RouteProto)
		if err != nil {
			return nil, err
		}
		if err := parseRoutes(out, family, got); err != nil {
			return nil, fmt.Errorf("%s: %w", netns, err)
		}
	}
	return got, nil
}

// parseRoutes adds the routes in `ip -j <family> route` output to into.
func parseRoutes(out, family string, into Routes) error {
	var rows []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		NextHops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			return fmt.Errorf("reading ip -j %s route: %w: %s", family, err, out)
		}
	}
	for _, row := range rows {
		p, err := parseDst(row.Dst, family)
		if err != nil {
			return err
		}
		if prev, ok := into[p]; ok {
			return fmt.Errorf("two routes of protocol %s to %s (%s and another), want one: %s", RouteProto, p, prev, strings.TrimSpace(out))
		}
		var r Route
		gateways := []string{row.Gateway}
		if len(row.NextHops) > 0 {
			r.Multipath = true
			gateways = gateways[:0]
			for _, nh := range row.NextHops {
				gateways = append(gateways, nh.Gateway)
			}
		}
		for _, g := range gateways {
			if g == "" {
				continue
			}
			a, err := netip.ParseAddr(g)
			if err != nil {
				return fmt.Errorf("route to %s: gateway %q: %w", p, g, err)
			}
			r.Gateways = append(r.Gateways, a)
		}
		slices.SortFunc(r.Gateways, netip.Addr.Compare)
		into[p] = r
	}
	return nil
}

// parseDst reads a route's dst: a prefix, a bare address (a host route) or
// "default".
func parseDst(dst, family string) (netip.Prefix, error) {
	switch {
	case dst == "default" && family == "-6":
		return netip.MustParsePrefix("::/0"), nil
	case dst == "default":
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	case !strings.Contains(dst, "/"):
		a, err := netip.ParseAddr(dst)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("route dst %q: %w", dst, err)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(dst)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("route dst %q: %w", dst, err)
	}
	return p, nil
}
