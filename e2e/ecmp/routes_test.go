//go:build e2e

package ecmp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// checkRoute fails unless netns has exactly one route of the agent's
// protocol to dst: multipath over want when want has several gateways, a
// plain route via want[0] when one.
func checkRoute(ctx context.Context, netns string, dst netip.Prefix, want ...netip.Addr) error {
	routes, err := e2eutil.KernelRoutes(ctx, netns)
	if err != nil {
		return err
	}
	got, ok := routes[dst]
	if !ok {
		return fmt.Errorf("%s: no route of protocol %s to %s (routes %v)", netns, e2eutil.RouteProto, dst, routes)
	}
	if !got.Is(want...) {
		kind := "via"
		if len(want) > 1 {
			kind = "multipath"
		}
		return fmt.Errorf("%s: route to %s is %v, want %s %v", netns, dst, got, kind, want)
	}
	return nil
}
