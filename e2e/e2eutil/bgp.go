//go:build e2e

package e2eutil

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/e2e/lab"
)

// BGPNeighbors reads node's BGP neighbors through its agent's own GoBGP API
// (`gobgp -j neighbor` inside the node): state, route-reflector client and
// cluster ID, configured timers. It is the reader the lab itself waits on
// (lab.Agents.Neighbors), so the suites and Up agree on what a session is.
func BGPNeighbors(ctx context.Context, l *lab.Lab, node *lab.Node) ([]lab.Neighbor, error) {
	return l.Agents.Neighbors(ctx, node)
}

// BGPNeighbor is node's neighbor at addr; false when node has none there.
func BGPNeighbor(ctx context.Context, l *lab.Lab, node *lab.Node, addr netip.Addr) (lab.Neighbor, bool, error) {
	nbs, err := BGPNeighbors(ctx, l, node)
	if err != nil {
		return lab.Neighbor{}, false, err
	}
	for _, nb := range nbs {
		if nb.Address == addr {
			return nb, true, nil
		}
	}
	return lab.Neighbor{}, false, nil
}

// CheckEstablished fails unless node has an Established session with every
// one of addrs (other neighbors do not matter).
func CheckEstablished(ctx context.Context, l *lab.Lab, node *lab.Node, addrs ...netip.Addr) error {
	nbs, err := BGPNeighbors(ctx, l, node)
	if err != nil {
		return err
	}
	state := map[netip.Addr]string{}
	for _, nb := range nbs {
		state[nb.Address] = nb.State
	}
	for _, a := range addrs {
		if state[a] != "ESTABLISHED" {
			return fmt.Errorf("%s: neighbor %s is %q (neighbors %v)", node.Name, a, state[a], nbs)
		}
	}
	return nil
}
