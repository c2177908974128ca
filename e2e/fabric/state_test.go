//go:build e2e

package fabric

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// torSession reads the ToR's view of node's session.
func torSession(ctx context.Context, l *lab.Lab, node *lab.Node) (lab.ToRNeighbor, bool, error) {
	nbs, err := l.ToRs[0].Neighbors(ctx)
	if err != nil {
		return lab.ToRNeighbor{}, false, err
	}
	for _, nb := range nbs {
		if nb.Address == node.IP {
			return nb, true, nil
		}
	}
	return lab.ToRNeighbor{}, false, nil
}

// checkToRSession fails unless the ToR has node as an Established neighbor
// in node's AS.
func checkToRSession(ctx context.Context, l *lab.Lab, node *lab.Node) error {
	nb, ok, err := torSession(ctx, l, node)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%s has no neighbor %s (%s)", l.ToRs[0].Name, node.IP, node.Name)
	case !nb.Established():
		return fmt.Errorf("%s: neighbor %s (%s) is %s (last reset %q)", l.ToRs[0].Name, node.IP, node.Name, nb.State, nb.LastReset)
	case nb.RemoteAS != nodeASN(node.Number):
		return fmt.Errorf("%s: neighbor %s (%s) has AS %d, want %d", l.ToRs[0].Name, node.IP, node.Name, nb.RemoteAS, nodeASN(node.Number))
	}
	return nil
}

// nodeSessionState is node's own view (gobgp -j neighbor) of its session
// with addr: GoBGP's state name, "" when it has no such neighbor.
func nodeSessionState(ctx context.Context, l *lab.Lab, node *lab.Node, addr netip.Addr) (string, error) {
	nb, _, err := e2eutil.BGPNeighbor(ctx, l, node, addr)
	return nb.State, err
}

// checkToRHasRoute fails unless the ToR's BGP table has prefix with a best
// path via node.
func checkToRHasRoute(ctx context.Context, l *lab.Lab, node *lab.Node) (lab.ToRPath, error) {
	table, err := l.ToRs[0].BGPTable(ctx)
	if err != nil {
		return lab.ToRPath{}, err
	}
	return bestVia(table, node)
}

func bestVia(table map[netip.Prefix][]lab.ToRPath, node *lab.Node) (lab.ToRPath, error) {
	paths := table[node.PodCIDR]
	for _, p := range paths {
		if p.Best && slices.Contains(p.NextHops, node.IP) {
			return p, nil
		}
	}
	return lab.ToRPath{}, fmt.Errorf("%s's BGP table: %s has no best path via %s (%s); paths %+v", "the ToR", node.PodCIDR, node.IP, node.Name, paths)
}

// checkNoneInstalled fails if any node has a route of our protocol to one of
// prefixes.
func checkNoneInstalled(ctx context.Context, nodes []*lab.Node, prefixes ...netip.Prefix) error {
	for _, n := range nodes {
		got, err := e2eutil.KernelRoutes(ctx, n.Netns)
		if err != nil {
			return err
		}
		for _, p := range prefixes {
			if r, ok := got[p]; ok {
				return fmt.Errorf("%s installed %s %s", n.Name, p, r)
			}
		}
	}
	return nil
}
