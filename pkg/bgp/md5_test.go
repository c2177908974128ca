package bgp

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mptcpChildEnv marks the child process that runs a test with MPTCP
// listeners (GODEBUG=multipathtcp=1).
const mptcpChildEnv = "NODEBGP_BGP_TEST_MPTCP"

// Where GoBGP's listener cannot carry TCP-MD5 (MPTCP listeners, Go 1.24+'s
// default), a peer with a password is refused, not left unauthenticated.
func TestPeersWithAPasswordAreRefusedWhereTheListenerCannotCarryIt(t *testing.T) {
	if os.Getenv(mptcpChildEnv) != "1" {
		if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Skip("the kernel has no MPTCP: listeners are plain TCP")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), mptcpChildEnv+"=1", "GODEBUG=multipathtcp=1")
		out, err := cmd.CombinedOutput()
		t.Logf("test with MPTCP listeners:\n%s", out)
		if err != nil {
			t.Fatalf("test with MPTCP listeners failed: %v", err)
		}
		return
	}
	a := startNode(t, "node-a", testASN, loopback, 0, "10.255.0.1", true)
	if a.speaker.md5 == nil {
		t.Skip("TCP-MD5 works on MPTCP listeners here")
	}
	withPassword := with(peer("node-b", "127.0.0.1", testASN, freePort(t, loopback)), func(p *Peer) { p.Password = "s3cret" })
	err := a.speaker.Apply(testContext(t), Desired{Peers: []Peer{withPassword}}).Peers
	if err == nil || !strings.Contains(err.Error(), "Password") || !strings.Contains(err.Error(), "multipathtcp=0") {
		t.Errorf("Apply with a password: peers error %v, want one naming Password and the fix", err)
	}
	if peers, _ := a.speaker.listPeers(testContext(t)); len(peers) != 0 {
		t.Errorf("peer with an unenforceable password was configured: %v", peers)
	}
}

func TestPasswordsAppearInNoLogOrError(t *testing.T) {
	var buf bytes.Buffer
	const secret = "pa55-w0rd-xyz"
	cfg := Config{
		ASN: testASN, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddress: loopback,
		ListenPort: int32(freePort(t, loopback)), GracefulRestart: true, ConnectRetry: time.Second,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	a := startNodeConfig(t, "node-a", cfg)
	good := with(peer("node-b", "127.0.0.1", testASN, freePort(t, loopback)), func(p *Peer) { p.Password = secret })
	bad := with(peer("node-c", "127.0.0.2", testASN, 0), func(p *Peer) { p.Password, p.HoldTime = secret, time.Second })
	err := a.speaker.Apply(testContext(t), Desired{Peers: []Peer{good, bad}}).Err()
	if err == nil {
		t.Fatal("Apply with a bad hold time: no error")
	}
	changed := with(good, func(p *Peer) { p.Password = secret + "2" })
	if err := a.speaker.Apply(testContext(t), Desired{Peers: []Peer{changed}}).Err(); err != nil {
		t.Fatal(err)
	}
	a.speaker.Stop()
	if strings.Contains(err.Error(), secret) || strings.Contains(buf.String(), secret) {
		t.Errorf("the password shows in the error %q or the logs:\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "peer-updated") {
		t.Errorf("logs lack the peer update (was the logger wired?):\n%s", buf.String())
	}
}
