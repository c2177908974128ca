package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// with returns p changed by f, for peers that differ in one setting.
func with(p Peer, f func(*Peer)) Peer {
	f(&p)
	return p
}

func TestTCPMD5SessionsComeUpOnlyWithTheSamePassword(t *testing.T) {
	tests := []struct {
		name         string
		passA, passB string
		establishes  bool
	}{
		{name: "same password", passA: "s3cret", passB: "s3cret", establishes: true},
		{name: "different passwords", passA: "s3cret", passB: "other", establishes: false},
		{name: "password on one side only", passA: "s3cret", passB: "", establishes: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
			b := startNode(t, "node-b", testASN, loopback, 0, "10.255.0.2", true)
			a.setPeers(t, with(b.peer, func(p *Peer) { p.Password = tt.passA }))
			b.setPeers(t, with(a.peer, func(p *Peer) { p.Password = tt.passB }))
			if tt.establishes {
				waitEstablished(t, a, b)
				waitEstablished(t, b, a)
				return
			}
			// Several connect attempts (ConnectRetry is 1s) must all fail.
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(pollInterval) {
				if st, _ := a.peerStatus(t, b); st.State == StateEstablished {
					t.Fatalf("%s established a session with %s despite mismatched TCP-MD5 passwords", a.name, b.name)
				}
			}
			st, _ := a.peerStatus(t, b)
			t.Logf("status with mismatched passwords: %+v", st)
		})
	}
}

func TestMaxPrefixesTearsTheSessionDownSaysWhyAndARaisedLimitBringsItBack(t *testing.T) {
	a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	b := startNode(t, "node-b", testASN, loopback, 0, "10.255.0.2", true)
	a.setPeers(t, b.peer)
	b.setPeers(t, with(a.peer, func(p *Peer) { p.MaxPrefixes = 2 }))
	waitEstablished(t, b, a)
	a.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.2.0/24")
	waitPath(t, b, path("10.244.2.0/24", testNextHopA), true)

	a.advertise(t, testNextHopA, "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24")
	waitFor(t, b.name+" to drop the session over the prefix limit", func() (bool, string) {
		st, _ := b.peerStatus(t, a)
		return st.State != StateEstablished && strings.Contains(st.LastError, "prefix"), fmt.Sprintf("%+v", st)
	})
	st, _ := b.peerStatus(t, a)
	t.Logf("status over the limit: %+v", st)
	if !st.PrefixLimited || st.MaxPrefixes != 2 {
		t.Errorf("status over the limit: PrefixLimited %v, MaxPrefixes %d; want true, 2", st.PrefixLimited, st.MaxPrefixes)
	}
	if ss, _ := sessionOf(t, b, a); !ss.PrefixLimited {
		t.Errorf("Sessions does not show the session held down by its prefix limit: %+v", ss)
	}

	// GoBGP keeps the peer down until it is enabled; raising the limit is
	// the operator's say-so to try again.
	b.setPeers(t, with(a.peer, func(p *Peer) { p.MaxPrefixes = 10 }))
	waitEstablished(t, b, a)
	waitPath(t, b, path("10.244.3.0/24", testNextHopA), true)
	if st, _ := b.peerStatus(t, a); st.PrefixLimited {
		t.Errorf("status once the limit was raised: PrefixLimited; want not")
	}
	if ss, _ := sessionOf(t, b, a); ss.PrefixLimited {
		t.Errorf("Sessions still shows the prefix limit after the session came back: %+v", ss)
	}
}

// Every session setting is written to GoBGP and read back: a second
// Apply finds nothing to change (setPeers checks) and the session is
// not reset.
func TestApplyWithEverySettingChangesNothingTheSecondTime(t *testing.T) {
	a := startNodeConfig(t, "node-a", Config{
		ASN: testASN, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddress: loopback,
		ListenPort: int32(freePort(t, loopback)), GracefulRestart: true, RestartTime: testRestart,
		ConnectRetry: time.Second, RouteReflectorClusterID: netip.MustParseAddr("10.255.255.1"),
		Logger: testLogger(t, "node-a"),
	})
	b := startNode(t, "node-b", testASN, loopback, 0, "10.255.0.2", true)
	full := with(b.peer, func(p *Peer) {
		p.LocalAddress = loopback
		p.MultihopTTL = 2
		p.HoldTime, p.KeepaliveTime = 9*time.Second, 3*time.Second
		p.ConnectRetry = 3 * time.Second
		p.Password = "s3cret"
		p.RouteReflectorClient = true
		p.MaxPrefixes = 100
	})
	a.setPeers(t, full)
	// One dialler, as between nodes: a re-created neighbor reconnects
	// without the two sides refusing each other's attempts.
	b.setPeers(t, with(a.peer, func(p *Peer) { p.Password, p.Passive = "s3cret", true }))
	waitEstablished(t, a, b)
	waitEstablished(t, b, a)
	opens := a.received(t, b).GetOpen()

	a.setPeers(t, full)
	time.Sleep(time.Second)
	if st, _ := a.peerStatus(t, b); st.State != StateEstablished || a.received(t, b).GetOpen() != opens {
		t.Errorf("%s: session with %s was reset by a repeated Apply: %+v", a.name, b.name, st)
	}
	// Each setting changes in GoBGP when it changes here (setPeers checks
	// the read-back), the route-reflector flag included, which GoBGP's
	// UpdatePeer would ignore.
	a.setPeers(t, with(full, func(p *Peer) {
		p.RouteReflectorClient, p.HoldTime, p.MaxPrefixes, p.ConnectRetry = false, 30e9, 0, 7e9
	}))
	a.setPeers(t, full)
	waitEstablished(t, a, b)

	have, err := a.speaker.listPeers(testContext(t))
	if err != nil || len(have) != 1 {
		t.Fatalf("listPeers = %v, %v", have, err)
	}
	got := have[0]
	if got.HoldTime != 9*time.Second || got.KeepaliveTime != 3*time.Second || got.ConnectRetry != 3*time.Second || got.MultihopTTL != 2 ||
		got.Password != "s3cret" || !got.RouteReflectorClient || got.MaxPrefixes != 100 || got.LocalAddress != loopback {
		t.Errorf("GoBGP's neighbor reads back as %+v (hold %s keepalive %s connect retry %s ttl %d rr %v max %d local %s)",
			got, got.HoldTime, got.KeepaliveTime, got.ConnectRetry, got.MultihopTTL, got.RouteReflectorClient, got.MaxPrefixes, got.LocalAddress)
	}
}
