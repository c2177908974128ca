package nodeinfo

import (
	"time"

	"github.com/nodebgp/router/pkg/slimnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeOpt shapes a test Node the way kubelet and the controller manager would.
type nodeOpt func(*slimnode.Node)

func node(name string, opts ...nodeOpt) *slimnode.Node {
	n := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: name}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func addr(t corev1.NodeAddressType, ips ...string) nodeOpt {
	return func(n *slimnode.Node) {
		for _, ip := range ips {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: t, Address: ip})
		}
	}
}

func internalIP(ips ...string) nodeOpt { return addr(corev1.NodeInternalIP, ips...) }

func podCIDRs(cidrs ...string) nodeOpt {
	return func(n *slimnode.Node) { n.Spec.PodCIDRs = cidrs }
}

func legacyPodCIDR(cidr string) nodeOpt {
	return func(n *slimnode.Node) { n.Spec.PodCIDR = cidr }
}

// createdAt sets the creation time to minutes after a fixed epoch.
func createdAt(minutes int) nodeOpt {
	return func(n *slimnode.Node) {
		n.CreationTimestamp = metav1.NewTime(time.Date(2025, 1, 1, 0, minutes, 0, 0, time.UTC))
	}
}
