package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/cniinstall"
	"github.com/nodebgp/router/pkg/firewall"
	"github.com/nodebgp/router/pkg/health"
	"github.com/nodebgp/router/pkg/hostnet"
	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/routes"
	"github.com/nodebgp/router/pkg/slimnode"
)

// The fakes below stand for the outside systems at the agent's seams. Each
// keeps the state a real one would, counts the writes that change it (so a
// test can demand that a pass over unchanged inputs writes nothing), and
// counts every call (so a test can demand that nothing was touched at all).
// Invariants the agent must keep are checked where they would be broken: in
// the fake that receives the offending call, which fails the test.

type fakeSpeaker struct {
	t         *testing.T
	desired   bgp.Desired // the state after the last Apply
	calls     int         // Apply calls
	writes    int         // Apply calls that changed something
	best      []bgp.Path
	bestReads int // BestPaths calls: full listings of the RIB
	bestErr   error
	converged bool
	// sessions is what Peers and Sessions report.
	sessions []bgp.PeerStatus
	// sessionReads records each Sessions call's withAdvertised.
	sessionReads []bool
	// beforeApply, when set, checks each Apply before it takes effect.
	beforeApply func(bgp.Desired)
}

func (s *fakeSpeaker) Apply(_ context.Context, d bgp.Desired) bgp.ApplyResult {
	s.calls++
	if s.beforeApply != nil {
		s.beforeApply(d)
	}
	if !reflect.DeepEqual(s.desired, d) {
		s.writes++
		s.desired = d
	}
	return bgp.ApplyResult{}
}

func (s *fakeSpeaker) BestPaths(context.Context) ([]bgp.Path, error) {
	s.bestReads++
	if s.bestErr != nil {
		return nil, s.bestErr
	}
	return slices.Clone(s.best), nil
}
func (s *fakeSpeaker) WatchBestPaths(ctx context.Context, _ func([]bgp.BestChange)) error {
	<-ctx.Done()
	return ctx.Err()
}
func (s *fakeSpeaker) WatchSessionsUp(ctx context.Context, _ func()) error {
	<-ctx.Done()
	return ctx.Err()
}
func (s *fakeSpeaker) Converged(context.Context) (bool, error) { return s.converged, nil }
func (s *fakeSpeaker) Peers(context.Context) ([]bgp.PeerStatus, error) {
	return slices.Clone(s.sessions), nil
}
func (s *fakeSpeaker) Sessions(_ context.Context, withAdvertised bool) ([]bgp.PeerStatus, error) {
	s.sessionReads = append(s.sessionReads, withAdvertised)
	return slices.Clone(s.sessions), nil
}
func (s *fakeSpeaker) Stop() {}

func (s *fakeSpeaker) advertises(p netip.Prefix) bool {
	return slices.ContainsFunc(s.desired.Advertised, func(a bgp.Path) bool { return a.Prefix == p })
}

type fakeKernel struct {
	t       *testing.T
	table   []routes.Route
	calls   int
	writes  int
	syncs   int // successful syncs
	updates int // Update calls
	// mayPrune tells whether pruning is allowed at the time of a Sync.
	mayPrune func() bool
	// own are prefixes that must never be desired.
	own []netip.Prefix
	// record is the table as the last Sync and Update left it; a test
	// that deletes a route "by hand" changes table only.
	record []netip.Prefix
	// anyErr makes AnyOurs fail.
	anyErr error
}

// AnyOurs reads the table, as the real one reads the kernel.
func (k *fakeKernel) WriterPort() uint32 { return 0 }

func (k *fakeKernel) AnyOurs() (bool, error) {
	k.calls++
	if k.anyErr != nil {
		return false, k.anyErr
	}
	return len(k.table) > 0, nil
}

// Holds is the real one's contract: whether the record has any of the
// prefixes.
func (k *fakeKernel) Holds(prefixes []netip.Prefix) bool {
	return slices.ContainsFunc(k.record, func(p netip.Prefix) bool { return slices.Contains(prefixes, p) })
}

// remember makes the record the table, as a write does.
func (k *fakeKernel) remember() {
	k.record = k.record[:0]
	for _, r := range k.table {
		k.record = append(k.record, r.Prefix)
	}
}

// checkOwn fails the test when a route inside our own pod CIDRs is asked for.
func (k *fakeKernel) checkOwn(r routes.Route) {
	for _, o := range k.own {
		if o.Overlaps(r.Prefix) {
			k.t.Errorf("kernel asked for %s via %s, inside our own pod CIDR %s", r.Prefix, r.Gateway, o)
		}
	}
}

func (k *fakeKernel) checkPrune(prune bool) {
	if prune && k.mayPrune != nil && !k.mayPrune() {
		k.t.Errorf("kernel asked to prune stale routes before the RIB converged")
	}
}

func (k *fakeKernel) Sync(_ context.Context, desired []routes.Route, prune bool) (routes.SyncResult, error) {
	k.calls++
	for _, r := range desired {
		k.checkOwn(r)
	}
	k.checkPrune(prune)
	next := slices.Clone(desired)
	if !prune {
		// Without pruning, routes not desired stay.
		for _, r := range k.table {
			if !slices.ContainsFunc(next, func(d routes.Route) bool { return d.Prefix == r.Prefix }) {
				next = append(next, r)
			}
		}
	}
	slices.SortFunc(next, func(a, b routes.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	if !slices.Equal(next, k.table) {
		k.writes++
		k.table = next
	}
	k.syncs++
	k.remember()
	return routes.SyncResult{Unchanged: len(next)}, nil
}

// Update is the real one's contract: it works from what the last Sync
// found, so it must never come first (that would also let a node announce
// without a full sync); without prune, a prefix without gateways keeps its
// routes.
func (k *fakeKernel) Update(_ context.Context, changes []routes.Change, prune bool) (routes.SyncResult, error) {
	k.calls++
	k.updates++
	if k.syncs == 0 {
		k.t.Errorf("kernel Update before the first full Sync")
		return routes.SyncResult{Resync: true}, nil
	}
	k.checkPrune(prune)
	next := slices.Clone(k.table)
	for _, c := range changes {
		if len(c.Gateways) == 0 && !prune {
			continue
		}
		next = slices.DeleteFunc(next, func(r routes.Route) bool { return r.Prefix == c.Prefix })
		for _, gw := range c.Gateways {
			r := routes.Route{Prefix: c.Prefix, Gateway: gw}
			k.checkOwn(r)
			next = append(next, r)
		}
	}
	slices.SortFunc(next, func(a, b routes.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	if !slices.Equal(next, k.table) {
		k.writes++
		k.table = next
	}
	k.remember()
	return routes.SyncResult{}, nil
}

type fakeHost struct {
	bridge     *hostnet.BridgeParams
	forwarding [2]bool
	calls      int
	writes     int
	bridgeErr  error
	mtu        int
}

func (h *fakeHost) EnsureBridge(_ context.Context, p hostnet.BridgeParams) error {
	h.calls++
	if h.bridgeErr != nil {
		return h.bridgeErr
	}
	if h.bridge == nil || !reflect.DeepEqual(*h.bridge, p) {
		h.writes++
		h.bridge = &p
	}
	return nil
}

func (h *fakeHost) EnableForwarding(_ context.Context, v4, v6 bool) error {
	h.calls++
	if want := [2]bool{h.forwarding[0] || v4, h.forwarding[1] || v6}; want != h.forwarding {
		h.writes++
		h.forwarding = want
	}
	return nil
}

func (h *fakeHost) LinkMTU(netip.Addr) (int, string, error) { return h.mtu, "eth0", nil }
func (h *fakeHost) WatchLinks(ctx context.Context, _ func(), _ func(netip.Prefix), _ func() uint32) error {
	<-ctx.Done()
	return ctx.Err()
}
func (h *fakeHost) BridgeExists(string) (bool, error) { return h.bridge != nil, nil }

type fakeFirewall struct {
	rules  *firewall.Rules
	calls  int
	writes int
}

func (f *fakeFirewall) Sync(_ context.Context, r firewall.Rules) error {
	f.calls++
	if f.rules == nil || !reflect.DeepEqual(*f.rules, r) {
		f.writes++
		f.rules = &r
	}
	return nil
}

type fakeCNI struct {
	// existed: the conflist was there before the agent started.
	existed bool
	conf    *cniinstall.ConflistParams
	calls   int
	writes  int
	err     error
}

func (c *fakeCNI) Exists() (bool, error) { return c.existed || c.conf != nil, nil }

func (c *fakeCNI) Write(_ context.Context, p cniinstall.ConflistParams) (bool, error) {
	c.calls++
	if c.err != nil {
		return false, c.err
	}
	if c.conf != nil && reflect.DeepEqual(*c.conf, p) {
		return false, nil
	}
	c.writes++
	c.conf = &p
	return true, nil
}

// testAgent is an agent wired to fakes, for node n1 of a cluster whose
// Nodes are in nodes (an informer's store).
type testAgent struct {
	*agent
	nodes    cache.Indexer
	speaker  *fakeSpeaker
	kernel   *fakeKernel
	host     *fakeHost
	firewall *fakeFirewall
	cni      *fakeCNI
	clock    time.Time
	route    routeState
}

var (
	n1CIDR = netip.MustParsePrefix("10.244.1.0/24")
	n2CIDR = netip.MustParsePrefix("10.244.2.0/24")
)

func testNode(name, ip, cidr string, annotations ...string) *slimnode.Node {
	n := &slimnode.Node{ObjectMeta: slimnode.ObjectMeta{Name: name, Annotations: map[string]string{}}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	for i := 0; i+1 < len(annotations); i += 2 {
		n.Annotations[annotations[i]] = annotations[i+1]
	}
	return n
}

func newTestAgent(t *testing.T) *testAgent {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range []*slimnode.Node{
		testNode("n1", "10.199.1.11", "10.244.1.0/24"),
		testNode("n2", "10.199.1.12", "10.244.2.0/24"),
		testNode("n3", "10.199.1.13", "10.244.3.0/24"),
	} {
		if err := idx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	cfg := validConfig()
	cfg.EnableIBGP = true
	ta := &testAgent{
		nodes:    idx,
		speaker:  &fakeSpeaker{t: t},
		kernel:   &fakeKernel{t: t, own: []netip.Prefix{n1CIDR}},
		host:     &fakeHost{mtu: 1500},
		firewall: &fakeFirewall{},
		cni:      &fakeCNI{},
		clock:    time.Unix(1_000_000, 0),
	}
	a := newAgent(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), health.New())
	a.now = func() time.Time { return ta.clock }
	a.nodes = nodeCache{store: idx}
	a.events = record.NewFakeRecorder(100)
	a.self = plan.Self{IP: netip.MustParseAddr("10.199.1.11"), PodCIDRs: []netip.Prefix{n1CIDR}}
	a.identity = plan.Identity{ASN: cfg.ClusterASN}
	a.speaker, a.kernel, a.host, a.firewall, a.cni = ta.speaker, ta.kernel, ta.host, ta.firewall, ta.cni
	ta.agent = a
	ta.route = routeState{start: ta.clock}
	a.started = ta.clock
	return ta
}

func (ta *testAgent) nodePass(t *testing.T) {
	t.Helper()
	if err := ta.agent.nodePass(context.Background()); err != nil {
		t.Fatalf("node pass: %v", err)
	}
}

// routePass is a full route pass, as the timer makes.
func (ta *testAgent) routePass() {
	ta.agent.routeChanges.resync(fullPeriod)
	ta.agent.routePass(context.Background(), &ta.route)
}

// routeEvents delivers best-path changes as GoBGP's watch does, and runs the
// pass they wake.
func (ta *testAgent) routeEvents(changes ...bgp.BestChange) {
	ta.agent.routeChanges.add(changes)
	ta.agent.routePass(context.Background(), &ta.route)
}

// writes is every write to every outside system so far.
func (ta *testAgent) writes() string {
	return fmt.Sprintf("speaker %d, kernel %d, host %d, firewall %d, cni %d",
		ta.speaker.writes, ta.kernel.writes, ta.host.writes, ta.firewall.writes, ta.cni.writes)
}

// calls is every call to every outside system so far.
func (ta *testAgent) calls() int {
	return ta.speaker.calls + ta.kernel.calls + ta.host.calls + ta.firewall.calls + ta.cni.calls
}

// ready is what the readiness probe would say.
func (ta *testAgent) ready() bool {
	rec := httptest.NewRecorder()
	ta.health.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code == http.StatusOK
}
