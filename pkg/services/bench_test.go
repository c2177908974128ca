package services

import (
	"fmt"
	"net/netip"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// 5,000 LoadBalancer Services (ETP Local) with 4 endpoints each, one of
// them on this node: the cost of one Service's change, with and without
// the Snapshot the pass hands to the planner.
func benchIndex(b *testing.B) (*Index, *fakeSource) {
	src := newSource()
	for i := 0; i < 5000; i++ {
		name := fmt.Sprintf("svc%d", i)
		ip := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()
		cip := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}).String()
		src.services[name] = svc(name, clusterIPs(cip), loadBalancer(ip), etpLocal)
		src.slices[name] = []*discoveryv1.EndpointSlice{slice(name,
			endpoint{node: self, ready: "true"}, endpoint{node: "n2", ready: "true"},
			endpoint{node: "n3", ready: "true"}, endpoint{node: "n4", ready: "true"})}
	}
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{ClusterIP: true, LoadBalancerIP: true}})
	for name := range src.services {
		ix.Mark(key(name))
	}
	if _, err := ix.Refresh(src); err != nil {
		b.Fatal(err)
	}
	return ix, src
}

func BenchmarkRefreshOneChangedServiceOf5000(b *testing.B) {
	ix, src := benchIndex(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Mark(key("svc42"))
		if n, err := ix.Refresh(src); err != nil || n != 1 {
			b.Fatalf("refreshed %d: %v", n, err)
		}
	}
}

func BenchmarkRefreshAndSnapshotOf5000(b *testing.B) {
	ix, src := benchIndex(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Mark(key("svc42"))
		if _, err := ix.Refresh(src); err != nil {
			b.Fatal(err)
		}
		if s := ix.Snapshot(); len(s.Announce) != 10000 {
			b.Fatalf("announce %d routes, want 10000", len(s.Announce))
		}
	}
}
