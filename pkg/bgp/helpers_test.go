package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Test-wide constants. Next hops are documentation addresses: they are
// only BGP attributes here, no traffic is sent to them.
const (
	testASN       = 64512
	waitTimeout   = 20 * time.Second
	pollInterval  = 100 * time.Millisecond
	testRestart   = 30 * time.Second
	testNextHopA  = "192.0.2.11"
	testNextHopA2 = "192.0.2.21"
	testNextHopB  = "192.0.2.12"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testPodCIDRs are the prefixes the tests' nodes advertise; every node
// peer accepts them (import takes only a node peer's AcceptPrefixes).
var testPodCIDRs = []netip.Prefix{
	netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("10.244.2.0/24"),
	netip.MustParsePrefix("10.244.3.0/24"), netip.MustParsePrefix("10.244.11.0/24"),
}

// freePort returns a TCP port on addr that nothing listens on right now.
func freePort(t testing.TB, addr netip.Addr) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("finding a free port on %s: %v", addr, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// testLogger logs through t at debug level when BGP_TEST_DEBUG is set, and
// warnings otherwise, so a failing run shows what GoBGP complained about.
func testLogger(t testing.TB, name string) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BGP_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})).With("component", "bgp", "node", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// node is one speaker under test and how others peer with it.
type node struct {
	name    string
	speaker *Speaker
	peer    Peer
	cfg     Config
	// calls sees every call the speaker's Apply makes to GoBGP.
	calls *recorder
	// desired is what the tests' helpers (setPolicy, setPeers, advertise)
	// last applied: each changes its part and applies the whole.
	desired Desired
}

// startNode starts a speaker listening on addr:port (a free port when 0),
// stopped when the test ends (Stop is idempotent).
func startNode(t testing.TB, name string, asn uint32, addr netip.Addr, port uint16, routerID string, gr bool) *node {
	t.Helper()
	return startNodeConfig(t, name, nodeConfig(t, name, asn, addr, port, routerID, gr))
}

// nodeConfig is startNode's Config, for a test that changes it.
func nodeConfig(t testing.TB, name string, asn uint32, addr netip.Addr, port uint16, routerID string, gr bool) Config {
	t.Helper()
	if port == 0 {
		port = freePort(t, addr)
	}
	return Config{
		ASN:             asn,
		RouterID:        netip.MustParseAddr(routerID),
		ListenAddress:   addr,
		ListenPort:      int32(port),
		GracefulRestart: gr,
		RestartTime:     testRestart,
		ConnectRetry:    time.Second,
		Logger:          testLogger(t, name),
	}
}

func startNodeConfig(t testing.TB, name string, cfg Config) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("starting speaker %s: %v", name, err)
	}
	t.Cleanup(s.Stop)
	calls := &recorder{gobgp: s.gobgp}
	s.gobgp = calls
	return &node{
		name:    name,
		speaker: s,
		calls:   calls,
		cfg:     cfg,
		peer: Peer{
			Name: name, Address: cfg.ListenAddress, ASN: cfg.ASN, Port: uint16(cfg.ListenPort),
			AcceptPrefixes: testPodCIDRs,
		},
	}
}

// apply applies n.desired twice: the first pass must succeed and the
// second must call nothing in GoBGP that changes anything.
func (n *node) apply(t testing.TB) {
	t.Helper()
	ctx := testContext(t)
	if err := n.speaker.Apply(ctx, n.desired).Err(); err != nil {
		t.Fatalf("%s: Apply: %v", n.name, err)
	}
	n.calls.reset()
	if err := n.speaker.Apply(ctx, n.desired).Err(); err != nil {
		t.Fatalf("%s: Apply again: %v", n.name, err)
	}
	if calls := n.calls.reset(); len(calls) > 0 {
		t.Fatalf("%s: a second Apply with the same Desired changed GoBGP: %q", n.name, calls)
	}
}

// setPolicy applies pol with n's peers and paths (see apply).
func (n *node) setPolicy(t testing.TB, pol Policy) {
	t.Helper()
	n.desired.Policy = pol
	n.apply(t)
}

// setPeers applies peers with n's policy and paths (see apply), and checks
// that GoBGP's neighbors are then the peers.
func (n *node) setPeers(t testing.TB, peers ...Peer) {
	t.Helper()
	n.desired.Peers = peers
	n.apply(t)
	ctx := testContext(t)
	want, err := n.speaker.desiredPeers(peers)
	if err != nil {
		t.Fatalf("%s: normalizing peers: %v", n.name, err)
	}
	have, err := n.speaker.listPeers(ctx)
	if err != nil {
		t.Fatalf("%s: listing peers: %v", n.name, err)
	}
	if d := diffPeers(want, have); !d.empty() {
		t.Fatalf("%s: after Apply GoBGP still differs: %+v", n.name, d)
	}
}

// advertise applies prefixes all via nextHop; see advertisePaths.
func (n *node) advertise(t testing.TB, nextHop string, prefixes ...string) {
	t.Helper()
	paths := make([]Path, 0, len(prefixes))
	for _, p := range prefixes {
		paths = append(paths, Path{Prefix: netip.MustParsePrefix(p), NextHop: netip.MustParseAddr(nextHop)})
	}
	n.advertisePaths(t, paths)
}

// advertisePaths applies paths with n's policy and peers (see apply); the
// originated paths and the export prefix sets must then equal them.
func (n *node) advertisePaths(t testing.TB, paths []Path) {
	t.Helper()
	n.desired.Advertised = paths
	n.apply(t)
	ctx := testContext(t)
	want, err := desiredPaths(paths)
	if err != nil {
		t.Fatalf("%s: desired paths: %v", n.name, err)
	}
	services, err := desiredServicePaths(n.desired.Services, want)
	if err != nil {
		t.Fatalf("%s: desired Service paths: %v", n.name, err)
	}
	want = append(want, services...)
	slices.SortFunc(want, comparePaths)
	have, err := n.speaker.listLocalPaths(ctx)
	if err != nil {
		t.Fatalf("%s: listing local paths: %v", n.name, err)
	}
	if add, del := advertiseDiff(want, have); len(add)+len(del) > 0 {
		t.Fatalf("%s: after Apply GoBGP still differs: add %v, withdraw %v", n.name, add, del)
	}
	sets, err := n.speaker.listPrefixSets(ctx)
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	for _, v4 := range []bool{true, false} {
		if add, del := prefixSetDiff(prefixesOf(want, v4), sets[ownPrefixSetName(v4)]); len(add)+len(del) > 0 {
			t.Fatalf("%s: prefix set %s differs: add %v, remove %v", n.name, ownPrefixSetName(v4), add, del)
		}
		if add, del := prefixSetDiff(prefixesOf(services, v4), sets[serviceSetName(v4)]); len(add)+len(del) > 0 {
			t.Fatalf("%s: prefix set %s differs: add %v, remove %v", n.name, serviceSetName(v4), add, del)
		}
	}
}

// advertiseServices applies Service paths via nextHop with n's policy,
// peers and pod paths (see advertisePaths).
func (n *node) advertiseServices(t testing.TB, nextHop string, prefixes ...string) {
	t.Helper()
	n.desired.Services = nil
	for _, p := range prefixes {
		n.desired.Services = append(n.desired.Services, Path{Prefix: netip.MustParsePrefix(p), NextHop: netip.MustParseAddr(nextHop)})
	}
	n.advertisePaths(t, n.desired.Advertised)
}

func (n *node) bestPaths(t testing.TB) []Path {
	t.Helper()
	paths, err := n.speaker.BestPaths(testContext(t))
	if err != nil {
		t.Fatalf("%s: BestPaths: %v", n.name, err)
	}
	return paths
}

func (n *node) peerStatus(t testing.TB, of *node) (PeerStatus, bool) {
	t.Helper()
	peers, err := n.speaker.Peers(testContext(t))
	if err != nil {
		t.Fatalf("%s: Peers: %v", n.name, err)
	}
	for _, p := range peers {
		if p.Address == of.peer.Address {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// waitEstablished waits until a's session with b is established.
func waitEstablished(t testing.TB, a, b *node) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s's session with %s to be established", a.name, b.name), func() (bool, string) {
		st, ok := a.peerStatus(t, b)
		return ok && st.State == StateEstablished, fmt.Sprintf("%+v", st)
	})
}

// waitPath waits until n's best paths do (present) or do not contain p.
func waitPath(t testing.TB, n *node, p Path, present bool) {
	t.Helper()
	what := "to learn"
	if !present {
		what = "to lose"
	}
	waitFor(t, fmt.Sprintf("%s %s %s", n.name, what, p), func() (bool, string) {
		paths := n.bestPaths(t)
		return slices.Contains(paths, p) == present, fmt.Sprint(paths)
	})
}

// waitFor polls cond until it holds, for at most waitTimeout.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	last := ""
	maxAttempts := int(waitTimeout / pollInterval)
	for attempt := 0; attempt < maxAttempts && time.Now().Before(deadline); attempt++ {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(pollInterval)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", waitTimeout, what, last)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func path(prefix, nextHop string) Path {
	return Path{Prefix: netip.MustParsePrefix(prefix), NextHop: netip.MustParseAddr(nextHop)}
}

// received returns the BGP message counters n's GoBGP keeps for the
// neighbor at of's address.
func (n *node) received(t testing.TB, of *node) *api.Message {
	t.Helper()
	var msgs *api.Message
	req := &api.ListPeerRequest{Address: of.peer.Address.String()}
	err := n.speaker.server.ListPeer(testContext(t), req, func(p *api.Peer) {
		msgs = p.GetState().GetMessages().GetReceived()
	})
	if err != nil || msgs == nil {
		t.Fatalf("%s: listing neighbor %s: %v, %v", n.name, of.peer.Address, msgs, err)
	}
	return msgs
}
