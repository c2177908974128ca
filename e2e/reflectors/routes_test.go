//go:build e2e

package reflectors

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// testRoutes: every node's kernel has exactly the other nodes' pod CIDRs,
// protocol 78, each via the IP of the node that owns it. On a client the
// route to the other client's CIDR came through the reflectors, which pass
// the originator's next hop on unchanged: traffic goes straight to the
// owner, never through a reflector.
func testRoutes(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	for _, n := range l.Nodes {
		want := map[netip.Prefix]netip.Addr{}
		for _, other := range l.Nodes {
			if other != n {
				want[other.PodCIDR] = other.IP
			}
		}
		e2eutil.LogStep(t, "%s: ip -j route show proto %s is exactly %v", n.Name, e2eutil.RouteProto, want)
		e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, n.Name+" kernel routes", func() error {
			got, err := e2eutil.KernelRoutes(ctx, n.Netns)
			if err != nil {
				return err
			}
			if !maps.Equal(got.Vias(), want) {
				return fmt.Errorf("%s: routes of protocol %s = %v, want %v", n.Name, e2eutil.RouteProto, got, want)
			}
			return nil
		})
	}
	checkReflected(ctx, t, l)
}

// checkReflected: a client learns the other client's pod CIDR from both
// reflectors, each path marked as reflected (RFC 4456) with CLUSTER_LIST the
// reflectors' cluster and ORIGINATOR_ID the node that owns the prefix. (When
// the reflectors peered as plain iBGP peers, GoBGP stripped both attributes
// between them and node3 saw 10.244.4.0/24 with ORIGINATOR_ID 10.199.1.12, a
// reflector; they now peer as each other's clients.)
func checkReflected(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, n := range l.Nodes {
		for _, other := range l.Nodes {
			if other == n || isReflector(n.Number) || isReflector(other.Number) {
				continue
			}
			e2eutil.LogStep(t, "%s: gobgp global rib %s has a path from each reflector with CLUSTER_LIST [%s]", n.Name, other.PodCIDR, clusterID)
			e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, n.Name+" reflected paths", func() error {
				paths, err := ribPaths(ctx, l, n, other.PodCIDR)
				if err != nil {
					return err
				}
				var from []string
				for _, p := range paths {
					if !slices.Equal(p.ClusterList, []string{clusterID}) {
						return fmt.Errorf("%s: path to %s from %s: CLUSTER_LIST %v, want [%s]", n.Name, other.PodCIDR, p.Neighbor, p.ClusterList, clusterID)
					}
					if p.Originator != other.IP.String() {
						return fmt.Errorf("%s: path to %s from %s: ORIGINATOR_ID %q, want its owner %s", n.Name, other.PodCIDR, p.Neighbor, p.Originator, other.IP)
					}
					from = append(from, p.Neighbor)
				}
				slices.Sort(from)
				var want []string
				for _, r := range reflectorNodes {
					want = append(want, lab.NodeIP(r).String())
				}
				if !slices.Equal(from, want) {
					return fmt.Errorf("%s: paths to %s from %v, want one from each reflector %v", n.Name, other.PodCIDR, from, want)
				}
				return nil
			})
		}
	}
}
