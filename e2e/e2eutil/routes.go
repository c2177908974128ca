//go:build e2e

package e2eutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// RouteProto is the kernel route protocol of every route the agent installs.
const RouteProto = "78"

// KernelRoutes reads the single-path routes of the agent's protocol in a
// namespace, by destination, as `ip -j route show proto 78` shows them; the
// gateway is the zero Addr for a route without one (a multipath route).
func KernelRoutes(ctx context.Context, netns string) (map[netip.Prefix]netip.Addr, error) {
	out, err := Output(ctx, "ip", "-n", netns, "-j", "route", "show", "proto", RouteProto)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			return nil, fmt.Errorf("%s: reading ip -j route: %w: %s", netns, err, out)
		}
	}
	got := make(map[netip.Prefix]netip.Addr, len(rows))
	for _, r := range rows {
		dst := r.Dst
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return nil, fmt.Errorf("%s: route dst %q: %w", netns, r.Dst, err)
		}
		gw, _ := netip.ParseAddr(r.Gateway) // invalid (zero) when the route has none
		got[p] = gw
	}
	return got, nil
}
