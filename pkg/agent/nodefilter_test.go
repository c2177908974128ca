package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/pkg/nodestream"
	"github.com/nodebgp/router/pkg/slimnode"
)

// cached is n as the node cache holds it: a watch event's Node, decoded by
// the agent's node watch.
func cached(t *testing.T, n *corev1.Node) *slimnode.Node {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": "MODIFIED", "object": n})
	if err != nil {
		t.Fatal(err)
	}
	_, obj, err := nodestream.NewWatchDecoder(io.NopCloser(bytes.NewReader(b))).Decode()
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*slimnode.Node)
}

func TestOnlyNodeUpdatesThatTouchRoutingFactsStartAPass(t *testing.T) {
	base := func() *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "41", Annotations: map[string]string{"nodebgp.io/asn": "65101", "other.io/x": "1"}},
			Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.199.1.11"}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			},
		}
		for i := range 50 {
			n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example/image-%d@sha256:%064d", i, i)}, SizeBytes: 1 << 20})
		}
		return n
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   bool
	}{
		{"kubelet heartbeat: conditions only", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, false},
		{"kubelet status: images and capacity", func(n *corev1.Node) {
			n.Status.Images = n.Status.Images[1:]
			n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("4")
		}, false},
		{"someone else's annotation", func(n *corev1.Node) { n.Annotations["other.io/x"] = "2" }, false},
		{"resource version only", func(n *corev1.Node) { n.ResourceVersion = "42" }, false},
		{"our annotation changed", func(n *corev1.Node) { n.Annotations["nodebgp.io/asn"] = "65102" }, true},
		{"our annotation added", func(n *corev1.Node) { n.Annotations["nodebgp.io/peers"] = "[]" }, true},
		{"our annotations removed", func(n *corev1.Node) { n.Annotations = nil }, true},
		{"InternalIP changed", func(n *corev1.Node) { n.Status.Addresses[0].Address = "10.199.1.99" }, true},
		{"pod CIDR allocated", func(n *corev1.Node) { n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "fd00::/64") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := base()
			tt.mutate(cur)
			if got := routingFactsChanged(cached(t, base()), cached(t, cur)); got != tt.want {
				t.Fatalf("routingFactsChanged = %v, want %v", got, tt.want)
			}
		})
	}
	if !routingFactsChanged("not a node", cached(t, base())) {
		t.Fatal("an unexpected object must start a pass")
	}
}
