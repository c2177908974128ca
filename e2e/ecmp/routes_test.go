//go:build e2e

package ecmp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// kernelRoute is one route of the agent's protocol: its gateways, one for a
// plain route, several (sorted) for a multipath route.
type kernelRoute struct {
	Gateways  []netip.Addr
	Multipath bool // the kernel shows it with nexthops
}

func (r kernelRoute) String() string {
	if r.Multipath {
		return fmt.Sprintf("multipath %v", r.Gateways)
	}
	return fmt.Sprintf("via %v", r.Gateways)
}

// kernelRoutes reads the routes of the agent's protocol in a namespace with
// `ip -j route show proto 78`, by destination; a destination with more than
// one route (rather than one multipath route) is an error. The kernel shows
// a multipath route as
// {"dst":"198.51.100.0/24","nexthops":[{"gateway":"10.199.1.253",...},...]}.
func kernelRoutes(ctx context.Context, netns string) (map[netip.Prefix]kernelRoute, error) {
	out, err := e2eutil.Output(ctx, "ip", "-n", netns, "-j", "route", "show", "proto", e2eutil.RouteProto)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		NextHops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			return nil, fmt.Errorf("%s: reading ip -j route: %w: %s", netns, err, out)
		}
	}
	got := make(map[netip.Prefix]kernelRoute, len(rows))
	for _, r := range rows {
		dst := r.Dst
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return nil, fmt.Errorf("%s: route dst %q: %w", netns, r.Dst, err)
		}
		if prev, ok := got[p]; ok {
			return nil, fmt.Errorf("%s: two routes of protocol %s to %s (%v and another), want one: %s", netns, e2eutil.RouteProto, p, prev, strings.TrimSpace(out))
		}
		var route kernelRoute
		gateways := []string{r.Gateway}
		if len(r.NextHops) > 0 {
			route.Multipath = true
			gateways = gateways[:0]
			for _, nh := range r.NextHops {
				gateways = append(gateways, nh.Gateway)
			}
		}
		for _, g := range gateways {
			a, err := netip.ParseAddr(g)
			if err != nil {
				return nil, fmt.Errorf("%s: route to %s: gateway %q: %w", netns, p, g, err)
			}
			route.Gateways = append(route.Gateways, a)
		}
		slices.SortFunc(route.Gateways, func(a, b netip.Addr) int { return a.Compare(b) })
		got[p] = route
	}
	return got, nil
}

// checkRoute fails unless netns has exactly one route of the agent's
// protocol to dst: multipath over want when want has several gateways, a
// plain route via want[0] when one.
func checkRoute(ctx context.Context, netns string, dst netip.Prefix, want ...netip.Addr) error {
	routes, err := kernelRoutes(ctx, netns)
	if err != nil {
		return err
	}
	got, ok := routes[dst]
	if !ok {
		return fmt.Errorf("%s: no route of protocol %s to %s (routes %v)", netns, e2eutil.RouteProto, dst, routes)
	}
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b netip.Addr) int { return a.Compare(b) })
	wantRoute := kernelRoute{Gateways: want, Multipath: len(want) > 1}
	if got.Multipath != wantRoute.Multipath || !slices.Equal(got.Gateways, want) {
		return fmt.Errorf("%s: route to %s is %v, want %v", netns, dst, got, wantRoute)
	}
	return nil
}
