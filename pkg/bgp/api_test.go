package bgp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestGRPCAPIServesTheGobgpCLI(t *testing.T) {
	a, apiAddr, client := startWithAPI(t, false)
	peer := Peer{Name: "node-b", Address: loopback, ASN: testASN, Port: freePort(t, loopback)}
	a.setPeers(t, peer)
	ctx := testContext(t)

	// GoBGP binds the API in the background: wait for it, bounded by ctx.
	global, err := client.GetBgp(ctx, &api.GetBgpRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("GetBgp: %v", err)
	}
	if got := global.GetGlobal().GetAsn(); got != testASN {
		t.Errorf("GetBgp ASN = %d, want %d", got, testASN)
	}
	stream, err := client.ListPeer(ctx, &api.ListPeerRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("ListPeer: %v", err)
	}
	var names []string
	for range 100 { // bounded: one peer is configured
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ListPeer stream: %v", err)
		}
		names = append(names, r.GetPeer().GetConf().GetNeighborAddress()+" "+r.GetPeer().GetConf().GetDescription())
	}
	if want := "127.0.0.1 node-b"; len(names) != 1 || names[0] != want {
		t.Errorf("ListPeer over gRPC = %q, want [%q]", names, want)
	}

	// Stop releases the API address.
	a.speaker.Stop()
	waitFor(t, "the API address to be released", func() (bool, string) {
		l, err := net.Listen("tcp", apiAddr)
		if err != nil {
			return false, err.Error()
		}
		l.Close()
		return true, ""
	})
}

func TestNewRefusesAnAPIAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(loopback, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = New(testContext(t), Config{
		ASN:        testASN,
		RouterID:   netip.MustParseAddr("10.255.0.1"),
		ListenPort: -1,
		APIAddress: l.Addr().String(),
		Logger:     testLogger(t, "node-a"),
	})
	if err == nil || !strings.Contains(err.Error(), "APIAddress") {
		t.Fatalf("New with an API address in use: error %v, want one naming APIAddress", err)
	}
}

func TestEBGPPeersExchangePrefixes(t *testing.T) {
	a := startNode(t, "node-a", 65001, loopback, 0, "10.255.0.1", true)
	b := startNode(t, "tor-b", 65002, loopback, 0, "10.255.0.2", true)
	a.setPeers(t, b.peer)
	b.setPeers(t, a.peer)
	waitEstablished(t, a, b)
	a.advertise(t, testNextHopA, "10.244.1.0/24")
	waitFor(t, b.name+" to learn 10.244.1.0/24 over eBGP", func() (bool, string) {
		paths := b.bestPaths(t)
		for _, p := range paths {
			if p.Prefix == netip.MustParsePrefix("10.244.1.0/24") {
				return true, ""
			}
		}
		return false, fmt.Sprint(paths)
	})
}

// startWithAPI starts a speaker that listens for no BGP session but serves
// its gRPC API on a free loopback port (writes only if allowWrites), and
// dials that API.
func startWithAPI(t *testing.T, allowWrites bool) (*node, string, api.GobgpApiClient) {
	t.Helper()
	apiAddr := netip.AddrPortFrom(loopback, freePort(t, loopback)).String()
	a := startNodeConfig(t, "node-a", Config{
		ASN:            testASN,
		RouterID:       netip.MustParseAddr("10.255.0.1"),
		ListenAddress:  loopback,
		ListenPort:     -1,
		APIAddress:     apiAddr,
		APIAllowWrites: allowWrites,
		Logger:         testLogger(t, "node-a"),
	})
	return a, apiAddr, apiClient(t, apiAddr)
}

// apiClient dials a speaker's gRPC API at addr; the connection is closed
// when the test ends.
func apiClient(t *testing.T, addr string) api.GobgpApiClient {
	t.Helper()
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dialing the gRPC API at %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return api.NewGobgpApiClient(conn)
}
