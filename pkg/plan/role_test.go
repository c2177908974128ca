package plan

import (
	"testing"

	"github.com/nodebgp/router/pkg/peering"
)

func TestRoleFollowsTheDesign(t *testing.T) {
	rr := peering.AnnotationRouteReflectorCluster
	tests := []struct {
		name   string
		modify func(in *Inputs)
		want   Role
	}{
		{"full mesh", func(*Inputs) {}, RoleMesh},
		{"this node reflects", func(in *Inputs) {
			in.Nodes = threeNodes(rr, "10.0.0.1")
			in.Identity.ClusterID = addr("10.0.0.1")
		}, RoleReflector},
		{"another node reflects", func(in *Inputs) {
			in.Nodes = threeNodes()
			in.Nodes[1].Annotations[rr] = "10.0.0.1"
		}, RoleClient},
		{"no iBGP", func(in *Inputs) { in.Settings.EnableIBGP = false }, RoleToROnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInputs()
			tt.modify(&in)
			if got := Build(in).Role; got != tt.want {
				t.Errorf("Role = %q, want %q", got, tt.want)
			}
		})
	}
}
