package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkFirstSession times a node session's first Established from the
// moment the dialing side adds its neighbor, in-process, with the product's
// connect retry (5 s). Two orders, as a node joins a cluster:
//
//   - listener-ready: the other side already has the dialer configured
//     (passive) when the dialer adds it: the joining node dials the nodes
//     that knew it from its Node object.
//   - listener-300ms-late: the other side starts, with the neighbor, 300 ms
//     after the dialer added it: an existing node dials a joiner whose agent
//     is not up yet.
//
// Each order twice: the dialer's neighbor added as GoBGP does (stock), and
// with Desired.FirstAttemptAtOnce (at-once: a fresh node's first pass,
// third_party/gobgp-patches/004). It reports the mean in s/session.
//
//	go test -run '^$' -bench FirstSession -benchtime 5x ./pkg/bgp/
func BenchmarkFirstSession(b *testing.B) {
	for _, late := range []time.Duration{0, 300 * time.Millisecond} {
		for _, atOnce := range []bool{false, true} {
			name := "listener-ready"
			if late > 0 {
				name = fmt.Sprintf("listener-%s-late", late)
			}
			mode := "stock"
			if atOnce {
				mode = "at-once"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				var total time.Duration
				for i := 0; i < b.N; i++ {
					total += firstSession(b, late, atOnce)
				}
				b.ReportMetric(total.Seconds()/float64(b.N), "s/session")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// firstSession starts a dialer and a passive listener, the listener late
// after the dialer added it (or before, for 0), and returns the time from
// the dialer's neighbor to Established, polled every 5 ms.
func firstSession(b *testing.B, late time.Duration, atOnce bool) time.Duration {
	b.Helper()
	start := func(name, routerID string) *node {
		cfg := Config{
			ASN: testASN, RouterID: netip.MustParseAddr(routerID), ListenAddress: loopback,
			ListenPort: int32(freePort(b, loopback)), ConnectRetry: DefaultConnectRetry,
			Logger: testLogger(b, name),
		}
		return startNodeConfig(b, name, cfg)
	}
	dialer := start("dialer", "10.0.0.1")
	// The listener's port must be known before it runs: reserve it now.
	listenerPort := freePort(b, loopback)
	listenerPeer := Peer{Name: "listener", Address: loopback, ASN: testASN, Port: listenerPort, AcceptPrefixes: testPodCIDRs}
	startListener := func() *node {
		cfg := Config{
			ASN: testASN, RouterID: netip.MustParseAddr("10.0.0.2"), ListenAddress: loopback,
			ListenPort: int32(listenerPort), ConnectRetry: DefaultConnectRetry,
			Logger: testLogger(b, "listener"),
		}
		l := startNodeConfig(b, "listener", cfg)
		l.setPeers(b, Peer{Name: "dialer", Address: loopback, ASN: testASN, Port: uint16(dialer.cfg.ListenPort), Passive: true, AcceptPrefixes: testPodCIDRs})
		return l
	}
	var listener *node
	if late == 0 {
		listener = startListener()
	}
	added := time.Now()
	dialer.desired.FirstAttemptAtOnce = atOnce
	dialer.setPeers(b, listenerPeer)
	if late > 0 {
		time.Sleep(late)
		listener = startListener()
	}
	deadline := added.Add(2 * waitTimeout)
	for time.Now().Before(deadline) {
		if st, ok := dialer.peerStatus(b, listener); ok && st.State == StateEstablished {
			took := time.Since(added)
			dialer.speaker.Stop()
			listener.speaker.Stop()
			return took
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("no session after %s", 2*waitTimeout)
	return 0
}
