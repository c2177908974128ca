package plan

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/nodebgp/router/pkg/slimnode"
	corev1 "k8s.io/api/core/v1"
)

// BenchmarkPlanPeers is the pure part of a node loop pass in a cluster of n
// nodes: reading every Node and deriving this node's whole plan (peers,
// policy, host settings), for a full mesh and for two route reflectors.
func BenchmarkPlanPeers(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		for _, reflectors := range []int{0, 2} {
			b.Run(fmt.Sprintf("nodes=%d/reflectors=%d", n, reflectors), func(b *testing.B) {
				all := benchNodes(n, reflectors)
				self := all[n-1]
				in := Inputs{
					Settings: Settings{NodeName: self.Name, ClusterASN: 64512, BGPPort: 179, EnableIBGP: true, CNIBridge: "nodebgp0", MTU: 1500},
					Self: Self{
						IP:       netip.MustParseAddr(self.Status.Addresses[0].Address),
						PodCIDRs: []netip.Prefix{netip.MustParsePrefix(self.Spec.PodCIDRs[0])},
					},
					Nodes: all,
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if p := Build(in); len(p.Peers) == 0 {
						b.Fatal("no peers planned")
					}
				}
			})
		}
	}
}

// benchNodes are n Nodes at 10.200.x.y owning 10.x.y.0/24; the first
// reflectors carry a route-reflector cluster ID.
func benchNodes(n, reflectors int) []*slimnode.Node {
	out := make([]*slimnode.Node, 0, n)
	for i := range n {
		hi, lo := i/250, i%250+1
		node := &slimnode.Node{
			ObjectMeta: slimnode.ObjectMeta{Name: fmt.Sprintf("node%d", i), Annotations: map[string]string{}},
			Spec:       slimnode.NodeSpec{PodCIDRs: []string{fmt.Sprintf("10.%d.%d.0/24", hi+1, lo)}},
			Status: slimnode.NodeStatus{Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.200.%d.%d", hi, lo)},
			}},
		}
		if i < reflectors {
			node.Annotations["nodebgp.io/route-reflector-cluster-id"] = "10.0.0.1"
		}
		out = append(out, node)
	}
	return out
}
