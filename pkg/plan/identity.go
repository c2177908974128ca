package plan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nodebgp/router/pkg/peering"
)

// Identity is what a running BGP speaker cannot change: its AS (sent
// in every OPEN) and its route-reflector cluster ID. A change means a new
// speaker, started in place like an agent restart (see agent.Run).
type Identity struct {
	ASN       uint32
	ClusterID netip.Addr // invalid: not a route reflector
}

func (id Identity) String() string {
	if id.ClusterID.IsValid() {
		return fmt.Sprintf("AS %d, route-reflector cluster %s", id.ASN, id.ClusterID)
	}
	return fmt.Sprintf("AS %d, not a route reflector", id.ASN)
}

// wantIdentity is the identity this node's annotations ask for. An annotation
// with bad data keeps the current value (the flag's default at the first
// start): a typo must not move a running node into another AS or out of its
// reflector role.
func wantIdentity(cfg peering.NodeConfig, problems []error, clusterASN uint32, current Identity) Identity {
	want := Identity{ASN: cfg.LocalASN(clusterASN), ClusterID: cfg.RouteReflectorClusterID}
	if current.ASN == 0 {
		// The first start: nothing to keep.
		if annotationInvalid(problems, peering.AnnotationRouteReflectorCluster) {
			want.ClusterID = netip.Addr{}
		}
		return want
	}
	if annotationInvalid(problems, peering.AnnotationASN) {
		want.ASN = current.ASN
	}
	if annotationInvalid(problems, peering.AnnotationRouteReflectorCluster) {
		want.ClusterID = current.ClusterID
	}
	return want
}

// annotationInvalid tells whether problems hold an error about annotation.
func annotationInvalid(problems []error, annotation string) bool {
	for _, p := range problems {
		var ae *peering.AnnotationError
		if errors.As(p, &ae) && ae.Annotation == annotation {
			return true
		}
	}
	return false
}

// RouterID is the BGP router ID: --router-id, else the node's IPv4 InternalIP.
func RouterID(flag netip.Addr, self Self, node string) (netip.Addr, error) {
	if flag.IsValid() {
		return flag, nil
	}
	if !self.IP.Is4() {
		return netip.Addr{}, fmt.Errorf("node %q: no IPv4 InternalIP to use as the BGP router ID; set --router-id", node)
	}
	return self.IP, nil
}
