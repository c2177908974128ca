package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nodebgp/router/pkg/peering"
)

// speakerIdentity is what a running BGP speaker cannot change: its AS (sent
// in every OPEN) and its route-reflector cluster ID. A change means a new
// speaker, started in place like an agent restart (see Run).
type speakerIdentity struct {
	ASN       uint32
	ClusterID netip.Addr // invalid: not a route reflector
}

func (id speakerIdentity) String() string {
	if id.ClusterID.IsValid() {
		return fmt.Sprintf("AS %d, route-reflector cluster %s", id.ASN, id.ClusterID)
	}
	return fmt.Sprintf("AS %d, not a route reflector", id.ASN)
}

// wantIdentity is the identity this node's annotations ask for. An annotation
// with bad data keeps the current value (the flag's default at the first
// start): a typo must not move a running node into another AS or out of its
// reflector role.
func wantIdentity(cfg peering.NodeConfig, problems []error, clusterASN uint32, current speakerIdentity) speakerIdentity {
	want := speakerIdentity{ASN: cfg.LocalASN(clusterASN), ClusterID: cfg.RouteReflectorClusterID}
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

// identityChangedError ends one speaker's life: the node loop returns it and
// Run starts the next speaker with the new identity.
type identityChangedError struct {
	Node     string
	From, To speakerIdentity
}

func (e *identityChangedError) Error() string {
	var changed []string
	if e.From.ASN != e.To.ASN {
		changed = append(changed, peering.AnnotationASN)
	}
	if e.From.ClusterID != e.To.ClusterID {
		changed = append(changed, peering.AnnotationRouteReflectorCluster)
	}
	return fmt.Sprintf("node %q: annotation %s changed: the BGP speaker restarts in place with %s (was %s)",
		e.Node, strings.Join(changed, " and "), e.To, e.From)
}
