package agent

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/nodeinfo"
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

// kubeletNode is a Node the way a kubelet fills it: most of it is nothing
// the agent reads.
func kubeletNode(name, ip, cidr string) *corev1.Node {
	n := testNode(name, ip, cidr, "nodebgp.io/asn", "65101", "node.alpha.kubernetes.io/ttl", "0")
	n.UID = types.UID("uid-" + name)
	n.ResourceVersion = "42"
	n.CreationTimestamp = metav1.Unix(1_700_000_000, 0)
	n.Labels = map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: name})
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Message: "kubelet is posting ready status"}}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	for i := range 50 {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example/image-%d@sha256:%064d", i, i)}, SizeBytes: 1 << 20})
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{KernelVersion: "6.1.0", KubeletVersion: "v1.34.3"}
	return n
}

func TestTheNodeCacheKeepsOnlyWhatTheAgentReads(t *testing.T) {
	full := kubeletNode("n1", "10.199.1.11", "10.244.1.0/24")
	obj, err := trimNode(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	trimmed := obj.(*corev1.Node)

	// Everything the agent reads survives.
	wantInfo, err := nodeinfo.FromNode(full)
	if err != nil {
		t.Fatal(err)
	}
	if gotInfo, err := nodeinfo.FromNode(trimmed); err != nil || !reflect.DeepEqual(gotInfo, wantInfo) {
		t.Fatalf("nodeinfo.FromNode of the trimmed node = %+v, %v; want %+v", gotInfo, err, wantInfo)
	}
	if routingFactsChanged(full, trimmed) {
		t.Fatalf("the trimmed node differs from the full one in a routing fact")
	}
	if trimmed.Name != full.Name || trimmed.UID != full.UID || !trimmed.CreationTimestamp.Equal(&full.CreationTimestamp) ||
		!reflect.DeepEqual(trimmed.Annotations, map[string]string{"nodebgp.io/asn": "65101"}) {
		t.Fatalf("trimmed metadata %+v", trimmed.ObjectMeta)
	}
	// The rest is gone, and trimming again changes nothing.
	if len(trimmed.Status.Images)+len(trimmed.Status.Conditions)+len(trimmed.Labels)+len(trimmed.ManagedFields)+len(trimmed.Status.Capacity) != 0 {
		t.Fatalf("the trimmed node kept what the agent never reads: %+v", trimmed)
	}
	again, _ := trimNode(trimmed.DeepCopy())
	if !reflect.DeepEqual(again, trimmed) {
		t.Fatalf("trimming a trimmed node changed it")
	}
	before, after := full.Size(), trimmed.Size()
	t.Logf("a kubelet's Node: %d bytes as protobuf, %d trimmed", before, after)
	if after*10 > before {
		t.Errorf("trimmed node is %d of %d bytes; want under a tenth", after, before)
	}
	if tomb, _ := trimNode(cache.DeletedFinalStateUnknown{Key: "n1"}); !reflect.DeepEqual(tomb, cache.DeletedFinalStateUnknown{Key: "n1"}) {
		t.Fatalf("a tombstone was changed: %+v", tomb)
	}
}
