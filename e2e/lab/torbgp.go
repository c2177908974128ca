package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Announce makes the ToR originate prefix, as a ToR announcing a default
// or an external network would: a blackhole route in its kernel (traffic it
// attracts and cannot deliver ends there, not in a loop) and a `network`
// statement, with the given BGP communities ("65000:100") when any. The
// announcement lives in the running config only: a restarted bgpd forgets it.
func (tor *ToR) Announce(ctx context.Context, prefix netip.Prefix, communities ...string) error {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return fmt.Errorf("ToR %s: announcing %s: the ToRs speak IPv4 unicast only", tor.Name, prefix)
	}
	prefix = prefix.Masked()
	for _, c := range communities {
		if c == "" || strings.ContainsAny(c, " \t\n") {
			return fmt.Errorf("ToR %s: announcing %s: community %q is not one word", tor.Name, prefix, c)
		}
	}
	if _, err := ip(ctx, tor.Name, "route", "replace", "blackhole", prefix.String()); err != nil {
		return fmt.Errorf("ToR %s: announcing %s: %w", tor.Name, prefix, err)
	}
	cmds := []string{"configure terminal"}
	network := "network " + prefix.String()
	if len(communities) > 0 {
		rm := announceRouteMap(prefix)
		cmds = append(cmds,
			"route-map "+rm+" permit 10",
			"set community "+strings.Join(communities, " "),
			"exit")
		network += " route-map " + rm
	}
	cmds = append(cmds, fmt.Sprintf("router bgp %d", ToRASN), "address-family ipv4 unicast", network)
	if _, err := tor.Vtysh(ctx, cmds...); err != nil {
		return fmt.Errorf("announcing %s: %w", prefix, err)
	}
	return nil
}

// Withdraw undoes Announce; withdrawing what was never announced is
// not an error.
func (tor *ToR) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	prefix = prefix.Masked()
	table, err := tor.BGPTable(ctx)
	if err != nil {
		return fmt.Errorf("withdrawing %s: %w", prefix, err)
	}
	if originated(table[prefix]) {
		_, err := tor.Vtysh(ctx, "configure terminal", fmt.Sprintf("router bgp %d", ToRASN),
			"address-family ipv4 unicast", "no network "+prefix.String())
		if err != nil {
			return fmt.Errorf("withdrawing %s: %w", prefix, err)
		}
	}
	// The route-map exists only if the announcement carried communities.
	_, _ = tor.Vtysh(ctx, "configure terminal", "no route-map "+announceRouteMap(prefix))
	if out, err := ip(ctx, tor.Name, "route", "show", "type", "blackhole", prefix.String()); err == nil && strings.TrimSpace(out) != "" {
		if _, err := ip(ctx, tor.Name, "route", "del", "blackhole", prefix.String()); err != nil {
			return fmt.Errorf("ToR %s: withdrawing %s: %w", tor.Name, prefix, err)
		}
	}
	return nil
}

func announceRouteMap(prefix netip.Prefix) string {
	return "LAB-ANNOUNCE-" + strings.NewReplacer(".", "-", "/", "-").Replace(prefix.String())
}

func originated(paths []ToRPath) bool {
	for _, p := range paths {
		if p.Local {
			return true
		}
	}
	return false
}

// BGPTable reads the ToR's IPv4 unicast BGP table with
// `show bgp ipv4 unicast json detail`: every path of every prefix.
func (tor *ToR) BGPTable(ctx context.Context) (map[netip.Prefix][]ToRPath, error) {
	return tor.bgpTable(ctx, "ipv4")
}

// BGPTable6 reads the ToR's IPv6 unicast BGP table the same way; an IPv6
// path's next hops are the global address and, when the peer sent one, its
// link-local address.
func (tor *ToR) BGPTable6(ctx context.Context) (map[netip.Prefix][]ToRPath, error) {
	return tor.bgpTable(ctx, "ipv6")
}

func (tor *ToR) bgpTable(ctx context.Context, family string) (map[netip.Prefix][]ToRPath, error) {
	out, err := tor.Vtysh(ctx, "show bgp "+family+" unicast json detail")
	if err != nil {
		return nil, err
	}
	table, err := parseToRTable([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("ToR %s: %w", tor.Name, err)
	}
	return table, nil
}

// Neighbors reads the ToR's BGP neighbors with `show bgp neighbors json`:
// the explicit ones and the nodes that connected through a listen range.
func (tor *ToR) Neighbors(ctx context.Context) ([]ToRNeighbor, error) {
	out, err := tor.Vtysh(ctx, "show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	nbs, err := parseToRNeighbors([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("ToR %s: %w", tor.Name, err)
	}
	return nbs, nil
}

// Neighbor reads one neighbor of the ToR with `show bgp neighbors <addr>
// json`; false when the ToR has none at addr (a node that came through a
// listen range is forgotten when its session ends).
func (tor *ToR) Neighbor(ctx context.Context, addr netip.Addr) (ToRNeighbor, bool, error) {
	out, err := tor.Vtysh(ctx, "show bgp neighbors "+addr.String()+" json")
	if strings.Contains(out, "bgpNoSuchNeighbor") || (err != nil && strings.Contains(out, "No such neighbor")) {
		return ToRNeighbor{}, false, nil
	}
	if err != nil {
		return ToRNeighbor{}, false, err
	}
	nbs, err := parseToRNeighbors([]byte(out))
	if err != nil {
		return ToRNeighbor{}, false, fmt.Errorf("ToR %s: %w", tor.Name, err)
	}
	for _, nb := range nbs {
		if nb.Address == addr {
			return nb, true, nil
		}
	}
	return ToRNeighbor{}, false, nil
}
