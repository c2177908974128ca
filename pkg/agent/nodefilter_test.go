package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOnlyNodeUpdatesThatTouchRoutingFactsStartAPass(t *testing.T) {
	base := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{"nodebgp.io/asn": "65101", "other.io/x": "1"}},
			Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.199.1.11"}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		}
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   bool
	}{
		{"kubelet heartbeat: conditions only", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, false},
		{"someone else's annotation", func(n *corev1.Node) { n.Annotations["other.io/x"] = "2" }, false},
		{"resource version only", func(n *corev1.Node) { n.ResourceVersion = "42" }, false},
		{"our annotation changed", func(n *corev1.Node) { n.Annotations["nodebgp.io/asn"] = "65102" }, true},
		{"our annotation added", func(n *corev1.Node) { n.Annotations["nodebgp.io/peers"] = "[]" }, true},
		{"InternalIP changed", func(n *corev1.Node) { n.Status.Addresses[0].Address = "10.199.1.99" }, true},
		{"pod CIDR allocated", func(n *corev1.Node) { n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "fd00::/64") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := base(), base()
			tt.mutate(cur)
			if got := routingFactsChanged(old, cur); got != tt.want {
				t.Fatalf("routingFactsChanged = %v, want %v", got, tt.want)
			}
		})
	}
	if !routingFactsChanged("not a node", base()) {
		t.Fatal("an unexpected object must start a pass")
	}
}
