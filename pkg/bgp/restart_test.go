package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// grFlags returns the graceful-restart capability flags n received from
// the neighbor at of (R = 0x08, N = 0x04) and those of its first family
// tuple (F = 0x80).
func (n *node) grFlags(t *testing.T, of *node) (flags, tupleFlags uint32, found bool) {
	t.Helper()
	req := &api.ListPeerRequest{Address: of.peer.Address.String()}
	err := n.speaker.server.ListPeer(testContext(t), req, func(p *api.Peer) {
		for _, c := range p.GetState().GetRemoteCap() {
			m, err := c.UnmarshalNew()
			if err != nil {
				continue
			}
			if gr, ok := m.(*api.GracefulRestartCapability); ok {
				flags, found = gr.GetFlags(), true
				if len(gr.GetTuples()) > 0 {
					tupleFlags = gr.GetTuples()[0].GetFlags()
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: listing neighbor %s: %v", n.name, of.name, err)
	}
	return flags, tupleFlags, found
}

// After a restart (Config.Restarting) the sessions announce the Restart
// State and Forwarding State bits. Our updates wait for the End-of-RIB of
// the peers that are up, not for a peer that is down: GoBGP counts only
// established peers that announced graceful restart (peer.go:297), so a
// dead node does not hold our announcements for DeferralTime.
//
// Needs root (a private network namespace for 127.0.0.2 and 127.0.0.3).
func TestRestartingSpeakerSetsRestartBitsAndIsNotHeldUpByAPeerThatIsDown(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	const deferral = 30 * time.Second
	addrA := netip.MustParseAddr("127.0.0.1")
	a := startNodeConfig(t, "node-a", Config{
		ASN: testASN, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddress: addrA,
		ListenPort: int32(freePort(t, addrA)), GracefulRestart: true, RestartTime: testRestart,
		ConnectRetry: time.Second, Restarting: true, DeferralTime: deferral, Logger: testLogger(t, "node-a"),
	})
	b := startNode(t, "node-b", testASN, netip.MustParseAddr("127.0.0.2"), 0, "10.255.0.2", true)
	// A node that is down: it never sends End-of-RIB.
	ghost := Peer{Name: "node-down", Address: netip.MustParseAddr("127.0.0.3"), ASN: testASN, Port: 179}
	start := time.Now()
	a.setPeers(t, b.peer, ghost)
	b.setPeers(t, a.peer)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	waitEstablished(t, b, a)
	flags, tuple, ok := b.grFlags(t, a)
	if !ok || flags&0x08 == 0 || flags&0x04 == 0 || tuple&0x80 == 0 {
		t.Errorf("%s received graceful-restart flags %#x, tuple %#x (found %v); want R (0x08), N (0x04), F (0x80)", b.name, flags, tuple, ok)
	}
	waitPath(t, b, path("10.244.1.0/24", testNextHopA), true)
	if took := time.Since(start); took > deferral/3 {
		t.Errorf("%s had %s's prefix only after %s: the peer that is down held it up", b.name, a.name, took)
	}
	st, _ := a.peerStatus(t, b)
	if !st.Synced() {
		t.Errorf("%s: %s not synced after sending its prefix: %+v", a.name, b.name, st)
	}
	t.Logf("restart flags seen by %s: %s", b.name, fmt.Sprintf("%#x/%#x", flags, tuple))
}
