package plan

import (
	"net/netip"
	"testing"

	"github.com/nodebgp/router/pkg/peering"
)

func TestWantIdentity(t *testing.T) {
	const clusterASN = 64512
	rr := netip.MustParseAddr("10.0.0.1")
	badASN := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationASN}
	badCluster := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationRouteReflectorCluster}
	badPeers := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationPeers}
	running := Identity{ASN: 65101, ClusterID: rr}
	tests := []struct {
		name     string
		cfg      peering.NodeConfig
		problems []error
		current  Identity
		want     Identity
	}{
		{"first start without annotations takes the cluster ASN", peering.NodeConfig{}, nil, Identity{}, Identity{ASN: clusterASN}},
		{"first start takes the annotated ASN and cluster ID", peering.NodeConfig{ASN: 65101, RouteReflectorClusterID: rr}, nil, Identity{}, running},
		{"first start with a bad ASN falls back to the cluster ASN", peering.NodeConfig{}, []error{badASN}, Identity{}, Identity{ASN: clusterASN}},
		{"a new ASN is wanted", peering.NodeConfig{ASN: 65102, RouteReflectorClusterID: rr}, nil, running, Identity{ASN: 65102, ClusterID: rr}},
		{"removing the ASN annotation returns to the cluster ASN", peering.NodeConfig{RouteReflectorClusterID: rr}, nil, running, Identity{ASN: clusterASN, ClusterID: rr}},
		{"a bad ASN keeps the running AS", peering.NodeConfig{RouteReflectorClusterID: rr}, []error{badASN}, running, running},
		{"a bad cluster ID keeps the running reflector role", peering.NodeConfig{ASN: 65101}, []error{badCluster}, running, running},
		{"removing the cluster ID ends the reflector role", peering.NodeConfig{ASN: 65101}, nil, running, Identity{ASN: 65101}},
		{"a bad peers annotation changes nothing", peering.NodeConfig{ASN: 65101, RouteReflectorClusterID: rr}, []error{badPeers}, running, running},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wantIdentity(tt.cfg, tt.problems, clusterASN, tt.current); got != tt.want {
				t.Errorf("wantIdentity = %v, want %v", got, tt.want)
			}
		})
	}
}
