package agent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/peering"
)

func TestWantIdentity(t *testing.T) {
	const clusterASN = 64512
	rr := netip.MustParseAddr("10.0.0.1")
	badASN := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationASN}
	badCluster := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationRouteReflectorCluster}
	badPeers := &peering.AnnotationError{Node: "n1", Annotation: peering.AnnotationPeers}
	running := speakerIdentity{ASN: 65101, ClusterID: rr}
	tests := []struct {
		name     string
		cfg      peering.NodeConfig
		problems []error
		current  speakerIdentity
		want     speakerIdentity
	}{
		{"first start without annotations takes the cluster ASN", peering.NodeConfig{}, nil, speakerIdentity{}, speakerIdentity{ASN: clusterASN}},
		{"first start takes the annotated ASN and cluster ID", peering.NodeConfig{ASN: 65101, RouteReflectorClusterID: rr}, nil, speakerIdentity{}, running},
		{"first start with a bad ASN falls back to the cluster ASN", peering.NodeConfig{}, []error{badASN}, speakerIdentity{}, speakerIdentity{ASN: clusterASN}},
		{"a new ASN is wanted", peering.NodeConfig{ASN: 65102, RouteReflectorClusterID: rr}, nil, running, speakerIdentity{ASN: 65102, ClusterID: rr}},
		{"removing the ASN annotation returns to the cluster ASN", peering.NodeConfig{RouteReflectorClusterID: rr}, nil, running, speakerIdentity{ASN: clusterASN, ClusterID: rr}},
		{"a bad ASN keeps the running AS", peering.NodeConfig{RouteReflectorClusterID: rr}, []error{badASN}, running, running},
		{"a bad cluster ID keeps the running reflector role", peering.NodeConfig{ASN: 65101}, []error{badCluster}, running, running},
		{"removing the cluster ID ends the reflector role", peering.NodeConfig{ASN: 65101}, nil, running, speakerIdentity{ASN: 65101}},
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

func TestIdentityChangedErrorNamesTheChangedAnnotations(t *testing.T) {
	rr := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name     string
		from, to speakerIdentity
		want     []string
		notWant  string
	}{
		{"ASN only", speakerIdentity{ASN: 65101}, speakerIdentity{ASN: 65102}, []string{`node "n1"`, peering.AnnotationASN, "AS 65102", "was AS 65101"}, peering.AnnotationRouteReflectorCluster},
		{"cluster ID only", speakerIdentity{ASN: 65101}, speakerIdentity{ASN: 65101, ClusterID: rr}, []string{peering.AnnotationRouteReflectorCluster, "cluster 10.0.0.1"}, peering.AnnotationASN + " "},
		{"both", speakerIdentity{ASN: 1}, speakerIdentity{ASN: 2, ClusterID: rr}, []string{peering.AnnotationASN + " and " + peering.AnnotationRouteReflectorCluster}, ""},
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

func TestPlanPeersKeepsTheSpeakerWhileTheOwnNodeIsMissing(t *testing.T) {
	running := speakerIdentity{ASN: 65101}
	a := &agent{
		cfg:          Config{NodeName: "n1", ClusterASN: 64512, EnableIBGP: true},
		identity:     running,
		nodeIP:       netip.MustParseAddr("10.199.1.11"),
		initialCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")},
	}
	if got := a.planPeers(nil, nil).identity; got != running {
		t.Errorf("own Node missing: plan identity %v, want the running %v", got, running)
	}
}
