package nodestream

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/nodebgp/router/pkg/peering"
	"github.com/nodebgp/router/pkg/slimnode"
)

// clientGoDecode decodes JSON as the typed client does (the clientset's
// codecs without conversion): the full Node this package never builds.
func clientGoDecode(b []byte) (runtime.Object, error) {
	codecs := scheme.Codecs.WithoutConversion()
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		panic("no JSON serializer")
	}
	return runtime.Decode(codecs.DecoderToVersion(info.Serializer, corev1.SchemeGroupVersion), b)
}

func bareNode() *corev1.Node {
	return &corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "bare"}}
}

// kubeletNode is a Node as a kubelet fills it (what e2e/cmd/nodebench
// creates): most of it is nothing the agent reads.
func kubeletNode(name string) *corev1.Node {
	n := &corev1.Node{
		TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			UID:               types.UID("0b1c2d3e-uid-" + name),
			ResourceVersion:   "123456",
			CreationTimestamp: metav1.Unix(1_700_000_000, 0),
			Labels:            map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m5.large"},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: &metav1.Time{Time: time.Unix(1_700_000_100, 0)}, FieldsType: "FieldsV1",
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:images":{},"f:conditions":{"k:{\"type\":\"Ready\"}":{"f:lastHeartbeatTime":{}}}}}`)},
			}},
		},
		Spec: corev1.NodeSpec{
			PodCIDR: "10.244.7.0/24", PodCIDRs: []string{"10.244.7.0/24"}, ProviderID: "aws:///eu-west-1a/i-0123",
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.199.7.11"}, {Type: corev1.NodeHostName, Address: name}},
			Capacity:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			NodeInfo:        corev1.NodeSystemInfo{KernelVersion: "6.1.0", KubeletVersion: "v1.34.3", OSImage: "Debian GNU/Linux 12"},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		},
	}
	for _, c := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable} {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{
			Type: c, Status: corev1.ConditionFalse, Reason: "Kubelet" + string(c), Message: "kubelet has sufficient " + string(c),
			LastHeartbeatTime: metav1.Unix(1_700_000_200, 0), LastTransitionTime: metav1.Unix(1_700_000_000, 0),
		})
	}
	for i := range 50 {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("registry.example/app-%d@sha256:%064x", i, i), fmt.Sprintf("registry.example/app-%d:v1.%d", i, i)},
			SizeBytes: int64(1+i) << 20,
		})
	}
	return n
}

func withOurAnnotations() *corev1.Node {
	n := kubeletNode("rr1")
	n.Annotations["nodebgp.io/asn"] = "65101"
	n.Annotations["nodebgp.io/route-reflector-cluster-id"] = "10.0.0.1"
	n.Annotations["nodebgp.io/peers"] = `[{"address":"10.199.0.1","asn":65000}]`
	n.Annotations["not-nodebgp.io/asn"] = "1"
	return n
}

func ipv6Node() *corev1.Node {
	n := kubeletNode("v6")
	n.Spec.PodCIDR = "fd00:10:244:7::/64"
	n.Spec.PodCIDRs = []string{"fd00:10:244:7::/64", "10.244.7.0/24"}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "fd00:199::7"}, {Type: corev1.NodeInternalIP, Address: "10.199.7.11"}}
	return n
}

func deletingNode() *corev1.Node {
	n := withOurAnnotations()
	n.DeletionTimestamp = &metav1.Time{Time: time.Unix(1_700_000_300, 0)}
	n.Finalizers = []string{"example.io/keep"}
	return n
}

var testNodes = []struct {
	name string
	node *corev1.Node
}{
	{"bare: a name and nothing else", bareNode()},
	{"kubelet-sized: images, conditions, managed fields, no annotation of ours", kubeletNode("worker-7")},
	{"our nodebgp.io/ annotations among others", withOurAnnotations()},
	{"IPv6 first, dual-stack", ipv6Node()},
	{"being deleted", deletingNode()},
}

func TestDecodedNodesEqualClientGoNodesTrimmed(t *testing.T) {
	for _, tt := range testNodes {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.node)
			if err != nil {
				t.Fatal(err)
			}
			full, err := clientGoDecode(b)
			if err != nil {
				t.Fatal(err)
			}
			want := trim(full.(*corev1.Node))
			got, err := decodeNode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%+v\nwant trimmed client-go decode\n%+v", got, want)
			}
			// And the trim is what the agent reads, not an empty Node
			// equal to another empty Node.
			if got.Name != tt.node.Name || !reflect.DeepEqual(got.Status.Addresses, tt.node.Status.Addresses) ||
				got.Spec.PodCIDR != tt.node.Spec.PodCIDR || !got.CreationTimestamp.Equal(&tt.node.CreationTimestamp) {
				t.Fatalf("decoded %+v lost a field of %+v", got, tt.node)
			}
		})
	}
}

// trim is what the agent keeps of a full Node (slimnode.Node), field by
// field: the reference the decoders are checked against.
func trim(n *corev1.Node) *slimnode.Node {
	s := &slimnode.Node{
		ObjectMeta: slimnode.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion,
			CreationTimestamp: n.CreationTimestamp, DeletionTimestamp: n.DeletionTimestamp,
		},
		Spec:   slimnode.NodeSpec{PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs},
		Status: slimnode.NodeStatus{Addresses: n.Status.Addresses},
	}
	for k, v := range n.Annotations {
		if strings.HasPrefix(k, peering.AnnotationPrefix) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[k] = v
		}
	}
	return s
}

func TestDecodeKeepsOurAnnotationsOnly(t *testing.T) {
	n := deletingNode()
	got, err := decodeNode([]byte(mustJSON(t, n)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"nodebgp.io/asn":                        "65101",
		"nodebgp.io/route-reflector-cluster-id": "10.0.0.1",
		"nodebgp.io/peers":                      `[{"address":"10.199.0.1","asn":65000}]`,
	}
	if !reflect.DeepEqual(got.Annotations, want) || got.DeletionTimestamp == nil {
		t.Fatalf("decoded annotations %v, deletionTimestamp %v; want %v and one", got.Annotations, got.DeletionTimestamp, want)
	}
}

func TestABadNodeIsAnErrorNamingIt(t *testing.T) {
	_, err := decodeNode([]byte(`{"metadata":{"name":"n9","annotations":{"nodebgp.io/asn":65101}}}`))
	if err == nil || !strings.Contains(err.Error(), `node "n9"`) || !strings.Contains(err.Error(), "annotations") {
		t.Fatalf("err = %v, want one naming node \"n9\" and the field", err)
	}
}
