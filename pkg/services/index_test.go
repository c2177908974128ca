package services

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeSource serves Services and slices from maps and counts the reads.
type fakeSource struct {
	services map[string]*corev1.Service
	slices   map[string][]*discoveryv1.EndpointSlice
	err      error
	reads    int
}

func (f *fakeSource) Service(k types.NamespacedName) (*corev1.Service, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return f.services[k.Name], nil
}

func (f *fakeSource) EndpointSlices(k types.NamespacedName) ([]*discoveryv1.EndpointSlice, error) {
	return f.slices[k.Name], nil
}

func key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "default", Name: name}
}

func newSource(svcs ...*corev1.Service) *fakeSource {
	f := &fakeSource{services: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{}}
	for _, s := range svcs {
		f.services[s.Name] = s
	}
	return f
}

func refresh(t *testing.T, ix *Index, src Source, keys ...string) Snapshot {
	t.Helper()
	for _, k := range keys {
		ix.Mark(key(k))
	}
	if _, err := ix.Refresh(src); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return ix.Snapshot()
}

func TestARefreshRecomputesOnlyTheServicesMarked(t *testing.T) {
	src := newSource(svc("a", clusterIPs("10.96.0.1")), svc("b", clusterIPs("10.96.0.2")), svc("c", clusterIPs("10.96.0.3")))
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{ClusterIP: true}})
	snap := refresh(t, ix, src, "a", "b", "c")
	if want := prefixes("10.96.0.1/32", "10.96.0.2/32", "10.96.0.3/32"); !slices.Equal(snap.Announce, want) {
		t.Fatalf("announce = %v, want %v", snap.Announce, want)
	}
	src.reads = 0
	src.services["b"] = svc("b", clusterIPs("10.96.0.22"))
	snap = refresh(t, ix, src, "b")
	if src.reads != 1 {
		t.Errorf("one Service changed, %d read", src.reads)
	}
	if want := prefixes("10.96.0.1/32", "10.96.0.3/32", "10.96.0.22/32"); !slices.Equal(snap.Announce, want) {
		t.Errorf("announce = %v, want %v", snap.Announce, want)
	}
	src.reads = 0
	if n, _ := ix.Refresh(src); n != 0 || src.reads != 0 {
		t.Errorf("a refresh with nothing marked recomputed %d Services with %d reads", n, src.reads)
	}
}

func TestADeletedServiceIsWithdrawn(t *testing.T) {
	src := newSource(svc("a", loadBalancer("198.51.100.1")))
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{LoadBalancerIP: true}})
	refresh(t, ix, src, "a")
	delete(src.services, "a")
	snap := refresh(t, ix, src, "a")
	if len(snap.Announce) != 0 || len(snap.Reject) != 0 {
		t.Errorf("after delete: announce %v reject %v, want none", snap.Announce, snap.Reject)
	}
}

func TestAnAddressSharedByTwoServicesStaysUntilBothLetGo(t *testing.T) {
	src := newSource(svc("a", loadBalancer("198.51.100.1")), svc("b", loadBalancer("198.51.100.1")))
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{LoadBalancerIP: true}})
	refresh(t, ix, src, "a", "b")
	delete(src.services, "a")
	if snap := refresh(t, ix, src, "a"); !slices.Equal(snap.Announce, prefixes("198.51.100.1/32")) {
		t.Errorf("one of two sharing Services deleted: announce = %v, want the address kept", snap.Announce)
	}
	delete(src.services, "b")
	if snap := refresh(t, ix, src, "b"); len(snap.Announce) != 0 {
		t.Errorf("both deleted: announce = %v, want none", snap.Announce)
	}
}

func TestABrokenServiceWithdrawsNothingOfTheOthers(t *testing.T) {
	src := newSource(svc("good", loadBalancer("198.51.100.1")), svc("bad", loadBalancer("198.51.100.2")))
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{LoadBalancerIP: true}})
	refresh(t, ix, src, "good", "bad")
	src.services["bad"] = svc("bad", loadBalancer("198.51.100.2"), annotated("load-balancer"))
	snap := refresh(t, ix, src, "bad")
	if !slices.Equal(snap.Announce, prefixes("198.51.100.1/32")) {
		t.Errorf("announce = %v, want the good Service's address only", snap.Announce)
	}
	if len(snap.Problems) != 1 || !strings.Contains(snap.Problems[0].Error(), "service default/bad: annotation nodebgp.io/advertise[0]") {
		t.Errorf("problems = %v, want one naming default/bad and its annotation", snap.Problems)
	}
	src.services["bad"] = svc("bad", loadBalancer("198.51.100.2"))
	if snap := refresh(t, ix, src, "bad"); len(snap.Problems) != 0 || len(snap.Announce) != 2 {
		t.Errorf("fixed: problems %v announce %v, want none and both addresses", snap.Problems, snap.Announce)
	}
}

func TestAServiceThatCannotBeReadKeepsWhatItHadAndIsRetried(t *testing.T) {
	src := newSource(svc("a", loadBalancer("198.51.100.1")))
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{LoadBalancerIP: true}})
	refresh(t, ix, src, "a")
	src.err = errors.New("cache not synced")
	ix.Mark(key("a"))
	if _, err := ix.Refresh(src); err == nil || !strings.Contains(err.Error(), "service default/a") {
		t.Fatalf("Refresh error = %v, want one naming default/a", err)
	}
	if snap := ix.Snapshot(); !slices.Equal(snap.Announce, prefixes("198.51.100.1/32")) {
		t.Errorf("announce = %v, want the last known address kept", snap.Announce)
	}
	src.err = nil
	delete(src.services, "a")
	if n, err := ix.Refresh(src); err != nil || n != 1 {
		t.Errorf("retry: %d refreshed, %v; want the Service retried without a new mark", n, err)
	}
}

func TestTheAggregateIsAnnouncedAndRejectedOnlyWithAdvertiseClusterIP(t *testing.T) {
	ranges := prefixes("10.96.0.0/12", "fd00:96::/108")
	ix := NewIndex(Settings{NodeName: self, Advertise: Kinds{ClusterIP: true}, ClusterIPRanges: ranges})
	snap := ix.Snapshot()
	if !slices.Equal(snap.Announce, ranges) || !slices.Equal(snap.Reject, ranges) {
		t.Errorf("announce %v reject %v, want %v both", snap.Announce, snap.Reject, ranges)
	}
	ix = NewIndex(Settings{NodeName: self, Advertise: Kinds{LoadBalancerIP: true}, ClusterIPRanges: ranges})
	if snap := ix.Snapshot(); len(snap.Announce) != 0 || len(snap.Reject) != 0 {
		t.Errorf("without --advertise-cluster-ip: announce %v reject %v, want none", snap.Announce, snap.Reject)
	}
}
