package agent

import (
	"fmt"
	"strings"

	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/plan"
)

// identityChangedError ends one speaker's life: the node loop returns it and
// Run starts the next speaker with the new identity.
type identityChangedError struct {
	Node     string
	From, To plan.Identity
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
