//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// meshRoutes is what node's kernel must hold: a route of our protocol to the
// pod CIDR of every other node in peers, via that node's IP, and nothing else.
func meshRoutes(node *lab.Node, peers []*lab.Node) map[netip.Prefix]netip.Addr {
	want := map[netip.Prefix]netip.Addr{}
	for _, p := range peers {
		if p.Name != node.Name {
			want[p.PodCIDR] = p.IP
		}
	}
	return want
}

// diffRoutes says how got differs from want, or returns nil.
func diffRoutes(netns string, got, want map[netip.Prefix]netip.Addr) error {
	var problems []string
	for p, gw := range want {
		switch g, ok := got[p]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s via %s", p, gw))
		case g != gw:
			problems = append(problems, fmt.Sprintf("%s via %s, want via %s", p, g, gw))
		}
	}
	for p, gw := range got {
		if _, ok := want[p]; !ok {
			problems = append(problems, fmt.Sprintf("unexpected %s via %s", p, gw))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("%s proto %s routes: %s", netns, e2eutil.RouteProto, strings.Join(problems, "; "))
}

// checkRoutes compares node's routes of our protocol with want.
func checkRoutes(ctx context.Context, node *lab.Node, want map[netip.Prefix]netip.Addr) error {
	got, err := e2eutil.KernelRoutes(ctx, node.Netns)
	if err != nil {
		return err
	}
	return diffRoutes(node.Netns, got.Vias(), want)
}

// checkMeshRoutes checks every node in nodes against the full mesh of nodes.
func checkMeshRoutes(ctx context.Context, nodes []*lab.Node) error {
	var errs []error
	for _, n := range nodes {
		errs = append(errs, checkRoutes(ctx, n, meshRoutes(n, nodes)))
	}
	return errors.Join(errs...)
}

// checkPeers checks that node has exactly the given peers, all established.
func checkPeers(ctx context.Context, l *lab.Lab, node *lab.Node, peers []*lab.Node) error {
	nbs, err := e2eutil.BGPNeighbors(ctx, l, node)
	if err != nil {
		return err
	}
	state := map[netip.Addr]string{}
	for _, nb := range nbs {
		state[nb.Address] = nb.State
	}
	var problems []string
	for _, p := range peers {
		if p.Name == node.Name {
			continue
		}
		switch s, ok := state[p.IP]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("no neighbor %s (%s)", p.IP, p.Name))
		case s != "ESTABLISHED":
			problems = append(problems, fmt.Sprintf("neighbor %s (%s) is %s", p.IP, p.Name, s))
		}
		delete(state, p.IP)
	}
	for addr, s := range state {
		problems = append(problems, fmt.Sprintf("unexpected neighbor %s (%s)", addr, s))
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("%s BGP neighbors: %s", node.Name, strings.Join(problems, "; "))
}

// checkMeshPeers checks the full iBGP mesh between nodes.
func checkMeshPeers(ctx context.Context, l *lab.Lab, nodes []*lab.Node) error {
	var errs []error
	for _, n := range nodes {
		errs = append(errs, checkPeers(ctx, l, n, nodes))
	}
	return errors.Join(errs...)
}

// without returns nodes minus the one named.
func without(nodes []*lab.Node, drop *lab.Node) []*lab.Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n *lab.Node) bool { return n.Name == drop.Name })
}
