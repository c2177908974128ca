package services

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Source reads one Service and its EndpointSlices (those labelled
// kubernetes.io/service-name with its name, in its namespace) from the
// informers' caches. A Service that does not exist is nil, not an error.
type Source interface {
	Service(key types.NamespacedName) (*corev1.Service, error)
	EndpointSlices(key types.NamespacedName) ([]*discoveryv1.EndpointSlice, error)
}

// Index holds what every Service asks of this node and the counted totals,
// so that a Refresh recomputes only the Services marked since the last.
// Mark is called from informer handlers, Refresh and Snapshot from the node
// loop.
type Index struct {
	settings Settings

	mu    sync.Mutex
	dirty map[types.NamespacedName]bool

	// Owned by the loop that refreshes.
	routes   map[types.NamespacedName]Routes
	problems map[types.NamespacedName][]error
	announce map[netip.Prefix]int // how many Services announce each route
	reject   map[netip.Prefix]int
	// snapshot is the last Snapshot while nothing in it changed: most
	// refreshes (an endpoint of a Cluster-policy Service) change no route.
	snapshot *Snapshot
}

// NewIndex returns an empty Index for s.
func NewIndex(s Settings) *Index {
	return &Index{
		settings: s,
		dirty:    map[types.NamespacedName]bool{},
		routes:   map[types.NamespacedName]Routes{},
		problems: map[types.NamespacedName][]error{},
		announce: map[netip.Prefix]int{},
		reject:   map[netip.Prefix]int{},
	}
}

// Mark notes that the Service key (or one of its EndpointSlices) changed.
func (ix *Index) Mark(key types.NamespacedName) {
	ix.mu.Lock()
	ix.dirty[key] = true
	ix.mu.Unlock()
}

// Refresh recomputes the Services marked since the last Refresh and returns
// how many. A Service whose objects cannot be read stays marked, keeps
// what it had, and its error is returned naming it.
func (ix *Index) Refresh(src Source) (int, error) {
	ix.mu.Lock()
	keys := make([]types.NamespacedName, 0, len(ix.dirty))
	for k := range ix.dirty {
		keys = append(keys, k)
	}
	clear(ix.dirty)
	ix.mu.Unlock()

	var failed []types.NamespacedName
	var firstErr error
	for _, k := range keys {
		svc, err := src.Service(k)
		var eps []*discoveryv1.EndpointSlice
		if err == nil && svc != nil {
			eps, err = src.EndpointSlices(k)
		}
		if err != nil {
			failed = append(failed, k)
			if firstErr == nil {
				firstErr = fmt.Errorf("service %s: %w", k, err)
			}
			continue
		}
		r, problems := ForService(svc, eps, ix.settings)
		ix.set(k, r, problems)
	}
	if len(failed) > 0 {
		ix.mu.Lock()
		for _, k := range failed {
			ix.dirty[k] = true
		}
		ix.mu.Unlock()
		return len(keys) - len(failed), fmt.Errorf("%d services not refreshed: %w", len(failed), firstErr)
	}
	return len(keys), nil
}

// set replaces the Service key's routes and problems, keeping the totals.
func (ix *Index) set(key types.NamespacedName, r Routes, problems []error) {
	old := ix.routes[key]
	if !slices.Equal(old.Announce, r.Announce) || !slices.Equal(old.Reject, r.Reject) ||
		len(problems) > 0 || len(ix.problems[key]) > 0 {
		ix.snapshot = nil
	}
	for _, p := range old.Announce {
		decrement(ix.announce, p)
	}
	for _, p := range old.Reject {
		decrement(ix.reject, p)
	}
	for _, p := range r.Announce {
		ix.announce[p]++
	}
	for _, p := range r.Reject {
		ix.reject[p]++
	}
	if len(r.Announce) == 0 && len(r.Reject) == 0 {
		delete(ix.routes, key)
	} else {
		ix.routes[key] = r
	}
	if len(problems) == 0 {
		delete(ix.problems, key)
	} else {
		ix.problems[key] = problems
	}
}

func decrement(m map[netip.Prefix]int, p netip.Prefix) {
	if m[p] <= 1 {
		delete(m, p)
		return
	}
	m[p]--
}

// Snapshot is what every Service together asks of this node.
type Snapshot struct {
	// Announce are the routes to announce to upstream peers: the host
	// routes and, with --advertise-cluster-ip, the --advertise-service-cidr
	// aggregates. Sorted.
	Announce []netip.Prefix
	// Reject are the Service routes no peer may send us: every address of
	// an announced kind and the aggregates, sorted.
	Reject []netip.Prefix
	// Problems name each Service and field, in Service order.
	Problems []error
}

// Snapshot returns the totals as of the last Refresh. Its slices are
// shared between calls until they change: callers must not modify them.
func (ix *Index) Snapshot() Snapshot {
	if ix.snapshot != nil {
		return *ix.snapshot
	}
	var s Snapshot
	s.Announce = make([]netip.Prefix, 0, len(ix.announce)+len(ix.settings.ClusterIPRanges))
	for p := range ix.announce {
		s.Announce = append(s.Announce, p)
	}
	s.Reject = make([]netip.Prefix, 0, len(ix.reject)+len(ix.settings.ClusterIPRanges))
	for p := range ix.reject {
		s.Reject = append(s.Reject, p)
	}
	if ix.settings.Advertise.ClusterIP {
		for _, r := range ix.settings.ClusterIPRanges {
			s.Announce = append(s.Announce, r.Masked())
			s.Reject = append(s.Reject, r.Masked())
		}
	}
	s.Announce = sortedUniquePrefixes(s.Announce)
	s.Reject = sortedUniquePrefixes(s.Reject)
	keys := make([]types.NamespacedName, 0, len(ix.problems))
	for k := range ix.problems {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range keys {
		s.Problems = append(s.Problems, ix.problems[k]...)
	}
	ix.snapshot = &s
	return s
}

func sortedUniquePrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return slices.Compact(ps)
}

// ServiceOf is the Service an EndpointSlice belongs to, by its
// kubernetes.io/service-name label; false for a slice without one.
func ServiceOf(es *discoveryv1.EndpointSlice) (types.NamespacedName, bool) {
	name, ok := es.Labels[discoveryv1.LabelServiceName]
	if !ok || name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: es.Namespace, Name: name}, true
}
