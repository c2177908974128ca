package bgp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestIsSessionPicksOnlyConnectionsToAndFromPeers(t *testing.T) {
	ap := netip.MustParseAddrPort
	e := sessionEndpoints{
		listen: []netip.AddrPort{ap("10.199.1.11:179")},
		peers:  map[netip.AddrPort]bool{ap("10.199.1.12:179"): true, ap("10.199.1.1:1179"): true},
	}
	tests := []struct {
		name          string
		local, remote string
		want          bool
	}{
		{"dialed to a peer's BGP port", "10.199.1.11:40000", "10.199.1.12:179", true},
		{"dialed to a peer on its own port", "10.199.1.11:40000", "10.199.1.1:1179", true},
		{"accepted from a peer", "10.199.1.11:179", "10.199.1.12:51000", true},
		{"accepted from a stranger", "10.199.1.11:179", "10.199.1.99:51000", false},
		{"to a peer's address on another port (Kubernetes API)", "10.199.1.11:40000", "10.199.1.12:6443", false},
		{"to a peer's address on BGP port of another peer entry", "10.199.1.11:40000", "10.199.1.1:179", false},
		{"on another local port", "10.199.1.11:50051", "10.199.1.12:51000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.isSession(ap(tt.local), ap(tt.remote)); got != tt.want {
				t.Errorf("isSession(%s, %s) = %v, want %v", tt.local, tt.remote, got, tt.want)
			}
		})
	}

	anyAddr := sessionEndpoints{listen: []netip.AddrPort{ap("0.0.0.0:179")}, peers: e.peers}
	if !anyAddr.isSession(ap("10.199.1.11:179"), ap("10.199.1.12:51000")) {
		t.Error("listening on any address: connection accepted from a peer not picked")
	}
	dual := sessionEndpoints{
		listen: []netip.AddrPort{ap("10.199.1.11:179"), ap("[fd00:199:1::11]:179")},
		peers:  map[netip.AddrPort]bool{ap("10.199.1.12:179"): true, ap("[fd00:199:1::12]:179"): true},
	}
	if !dual.isSession(ap("[fd00:199:1::11]:179"), ap("[fd00:199:1::12]:51000")) {
		t.Error("dual-stack: connection accepted on the IPv6 listen address from a peer not picked")
	}
	if dual.isSession(ap("[fd00:199:1::11]:179"), ap("[fd00:199:1::99]:51000")) {
		t.Error("dual-stack: connection accepted on the IPv6 listen address from a stranger picked")
	}
	none := sessionEndpoints{peers: e.peers}
	if none.isSession(ap("10.199.1.11:179"), ap("10.199.1.12:51000")) {
		t.Error("not listening: a connection was taken as accepted")
	}
}

// Real connections on 127.0.0.1 stand in for a BGP session and for some
// other connection of the process: severing must end the session with a
// FIN (EOF at the far end, later writes fail) and leave the other alone.
func TestSeverSessionsEndsMatchingConnectionsOnly(t *testing.T) {
	session, sessionFar, bgpEnd := connectedPair(t)
	other, otherFar, _ := connectedPair(t)

	n, err := severSessions(sessionEndpoints{peers: map[netip.AddrPort]bool{bgpEnd: true}})
	if err != nil || n != 1 {
		t.Fatalf("severSessions = %d, %v; want 1 socket", n, err)
	}
	sessionFar.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := sessionFar.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("far end of the session read %v, want EOF", err)
	}
	if _, err := session.Write([]byte("x")); err == nil {
		t.Error("write on the severed session succeeded")
	}

	if _, err := other.Write([]byte("x")); err != nil {
		t.Fatalf("write on the other connection: %v", err)
	}
	otherFar.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := otherFar.Read(make([]byte, 1)); err != nil {
		t.Errorf("other connection was disturbed: %v", err)
	}

	if n, err := severSessions(sessionEndpoints{}); n != 0 || err != nil {
		t.Errorf("no peers: severed %d, %v", n, err)
	}
}

// connectedPair returns a dialed connection, its accepted far end, and the
// listener's address, all closed when the test ends.
func connectedPair(t *testing.T) (dialed, far net.Conn, listen netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dialed, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	far, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { far.Close() })
	return dialed, far, netip.MustParseAddrPort(l.Addr().String())
}
