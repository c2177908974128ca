package agent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/plan"
)

func TestIdentityChangedErrorNamesTheChangedAnnotations(t *testing.T) {
	rr := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name     string
		from, to plan.Identity
		want     []string
		notWant  string
	}{
		{"ASN only", plan.Identity{ASN: 65101}, plan.Identity{ASN: 65102}, []string{`node "n1"`, peering.AnnotationASN, "AS 65102", "was AS 65101"}, peering.AnnotationRouteReflectorCluster},
		{"cluster ID only", plan.Identity{ASN: 65101}, plan.Identity{ASN: 65101, ClusterID: rr}, []string{peering.AnnotationRouteReflectorCluster, "cluster 10.0.0.1"}, peering.AnnotationASN + " "},
		{"both", plan.Identity{ASN: 1}, plan.Identity{ASN: 2, ClusterID: rr}, []string{peering.AnnotationASN + " and " + peering.AnnotationRouteReflectorCluster}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := (&identityChangedError{Node: "n1", From: tt.from, To: tt.to}).Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if tt.notWant != "" && strings.Contains(msg, tt.notWant) {
				t.Errorf("%q names %q, which did not change", msg, tt.notWant)
			}
		})
	}
}
