package bgp

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

func TestRedactPasswordsHidesEveryPasswordAndKeepsTheRest(t *testing.T) {
	const pw = "s3cret"
	tests := []struct {
		name string
		in   proto.Message
		want proto.Message
	}{
		{
			name: "ListPeer: the neighbor's configured and reported passwords",
			in: &api.ListPeerResponse{Peer: &api.Peer{
				Conf:  &api.PeerConf{AuthPassword: pw, NeighborAddress: "10.199.1.12", PeerAsn: 64512},
				State: &api.PeerState{AuthPassword: pw, NeighborAddress: "10.199.1.12"},
			}},
			want: &api.ListPeerResponse{Peer: &api.Peer{
				Conf:  &api.PeerConf{AuthPassword: redactedPassword, NeighborAddress: "10.199.1.12", PeerAsn: 64512},
				State: &api.PeerState{AuthPassword: redactedPassword, NeighborAddress: "10.199.1.12"},
			}},
		},
		{
			name: "ListPeer: a neighbor without a password stays without one",
			in:   &api.ListPeerResponse{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: "10.199.1.12"}}},
			want: &api.ListPeerResponse{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: "10.199.1.12"}}},
		},
		{
			name: "ListPeerGroup: the group's configured and reported passwords",
			in: &api.ListPeerGroupResponse{PeerGroup: &api.PeerGroup{
				Conf: &api.PeerGroupConf{AuthPassword: pw, PeerGroupName: "tors"},
				Info: &api.PeerGroupState{AuthPassword: pw, PeerGroupName: "tors"},
			}},
			want: &api.ListPeerGroupResponse{PeerGroup: &api.PeerGroup{
				Conf: &api.PeerGroupConf{AuthPassword: redactedPassword, PeerGroupName: "tors"},
				Info: &api.PeerGroupState{AuthPassword: redactedPassword, PeerGroupName: "tors"},
			}},
		},
		{
			name: "WatchEvent: a peer event",
			in: &api.WatchEventResponse{Event: &api.WatchEventResponse_Peer{Peer: &api.WatchEventResponse_PeerEvent{
				Type: api.WatchEventResponse_PeerEvent_STATE,
				Peer: &api.Peer{Conf: &api.PeerConf{AuthPassword: pw, NeighborAddress: "10.199.1.12"}},
			}}},
			want: &api.WatchEventResponse{Event: &api.WatchEventResponse_Peer{Peer: &api.WatchEventResponse_PeerEvent{
				Type: api.WatchEventResponse_PeerEvent_STATE,
				Peer: &api.Peer{Conf: &api.PeerConf{AuthPassword: redactedPassword, NeighborAddress: "10.199.1.12"}},
			}}},
		},
		{
			name: "WatchEvent: a table event has no password",
			in: &api.WatchEventResponse{Event: &api.WatchEventResponse_Table{Table: &api.WatchEventResponse_TableEvent{
				Paths: []*api.Path{{NeighborIp: "10.199.1.12", Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}},
			}}},
			want: &api.WatchEventResponse{Event: &api.WatchEventResponse_Table{Table: &api.WatchEventResponse_TableEvent{
				Paths: []*api.Path{{NeighborIp: "10.199.1.12", Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}},
			}}},
		},
		{
			name: "ListDynamicNeighbor has no password",
			in:   &api.ListDynamicNeighborResponse{DynamicNeighbor: &api.DynamicNeighbor{Prefix: "10.199.1.0/24", PeerGroup: "tors"}},
			want: &api.ListDynamicNeighborResponse{DynamicNeighbor: &api.DynamicNeighbor{Prefix: "10.199.1.0/24", PeerGroup: "tors"}},
		},
		{
			name: "a nil response stays nil",
			in:   (*api.GetBgpResponse)(nil),
			want: (*api.GetBgpResponse)(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.Clone(tt.in)
			got := redactPasswords(tt.in)
			if !proto.Equal(got, tt.want) {
				t.Errorf("redactPasswords =\n%v\nwant\n%v", prototext.Format(got), prototext.Format(tt.want))
			}
			// GoBGP may share the message with its own state.
			if !proto.Equal(tt.in, before) {
				t.Errorf("redactPasswords changed its input to\n%v", prototext.Format(tt.in))
			}
		})
	}
}

func TestUnaryResponsesAreRedactedAndErrorsPassThrough(t *testing.T) {
	errHandler := errors.New("handler failed")
	handler := func(context.Context, any) (any, error) {
		return &api.ListPeerResponse{Peer: &api.Peer{Conf: &api.PeerConf{AuthPassword: "s3cret"}}}, errHandler
	}
	resp, err := redactUnary(context.Background(), &api.ListPeerRequest{}, &grpc.UnaryServerInfo{}, handler)
	if !errors.Is(err, errHandler) {
		t.Errorf("error = %v, want the handler's", err)
	}
	if got := resp.(*api.ListPeerResponse).GetPeer().GetConf().GetAuthPassword(); got != redactedPassword {
		t.Errorf("unary response password = %q, want %q", got, redactedPassword)
	}
}

// Over the gRPC API (and the stock gobgp CLI) the password of a neighbor
// and of a peer group reads as the marker, while the speaker, which calls
// GoBGP in-process, still reads the real one and so still notices a change.
func TestGRPCAPIRedactsPasswordsTheSpeakerStillReads(t *testing.T) {
	// changed contains secret, so that looking for secret finds either.
	const secret, changed = "nodebgp-test-s3cret", "nodebgp-test-s3cret-2"
	apiAddr := netip.AddrPortFrom(loopback, freePort(t, loopback))
	a := startNodeConfig(t, "node-a", Config{
		ASN:           testASN,
		RouterID:      netip.MustParseAddr("10.255.0.1"),
		ListenAddress: loopback,
		ListenPort:    int32(freePort(t, loopback)),
		APIAddress:    apiAddr.String(),
		Logger:        testLogger(t, "node-a"),
	})
	if a.speaker.md5 != nil {
		t.Skipf("TCP-MD5 is unavailable here: %v", a.speaker.md5)
	}
	// Passive: the neighbor is only configured, nothing is ever dialled.
	tor := withPassive(with(peer("tor", "127.0.0.2", 65001, 0), func(p *Peer) { p.Password = secret }))
	a.setPeers(t, tor)
	ctx := testContext(t)
	err := a.speaker.server.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: &api.PeerGroup{
		Conf: &api.PeerGroupConf{PeerGroupName: "tors", PeerAsn: 65001, AuthPassword: secret},
	}})
	if err != nil {
		t.Fatalf("adding peer group: %v", err)
	}

	client := apiClient(t, apiAddr.String())

	checkAPI := func() {
		t.Helper()
		peers, err := client.ListPeer(ctx, &api.ListPeerRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("ListPeer: %v", err)
		}
		got := recvAll(t, "ListPeer", peers.Recv)
		if len(got) != 1 || got[0].GetPeer().GetConf().GetAuthPassword() != redactedPassword {
			t.Errorf("ListPeer over gRPC = %v, want one neighbor with password %q", got, redactedPassword)
		}
		groups, err := client.ListPeerGroup(ctx, &api.ListPeerGroupRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("ListPeerGroup: %v", err)
		}
		gotGroups := recvAll(t, "ListPeerGroup", groups.Recv)
		if len(gotGroups) != 1 || gotGroups[0].GetPeerGroup().GetConf().GetAuthPassword() != redactedPassword {
			t.Errorf("ListPeerGroup over gRPC = %v, want one group with password %q", gotGroups, redactedPassword)
		}
		for _, m := range append(messages(got), messages(gotGroups)...) {
			if text := prototext.Format(m); strings.Contains(text, secret) {
				t.Errorf("gRPC response carries the password: %s", text)
			}
		}
	}
	checkSpeaker := func(password string) {
		t.Helper()
		have, err := a.speaker.listPeers(ctx)
		if err != nil {
			t.Fatalf("listing peers: %v", err)
		}
		if len(have) != 1 || have[0].Password != password {
			t.Errorf("speaker reads peers %+v, want one with the real password", have)
		}
		status, err := a.speaker.Peers(ctx)
		if err != nil || len(status) != 1 || status[0].Address != tor.Address {
			t.Errorf("Peers() = %+v, %v, want the neighbor %s", status, err, tor.Address)
		}
	}

	checkAPI()
	checkSpeaker(secret)
	// setPeers fails unless the speaker sees the old password and updates
	// GoBGP to the new one.
	a.setPeers(t, with(tor, func(p *Peer) { p.Password = changed }))
	checkSpeaker(changed)
	checkAPI()

	t.Run("gobgp CLI", func(t *testing.T) {
		bin := gobgpCLI()
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("no gobgp CLI (built by `make tools`): %v", err)
		}
		for _, args := range [][]string{{"neighbor"}, {"neighbor", tor.Address.String()}} {
			cmdCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			argv := append([]string{"-u", apiAddr.Addr().String(), "-p", strconv.Itoa(int(apiAddr.Port())), "-j"}, args...)
			out, err := exec.CommandContext(cmdCtx, bin, argv...).CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("gobgp %s: %v\n%s", strings.Join(argv, " "), err, out)
			}
			// encoding/json writes <redacted> as \u003credacted\u003e.
			if strings.Contains(string(out), secret) || !strings.Contains(string(out), `\u003credacted\u003e`) {
				t.Errorf("gobgp %s printed %s, want the marker and not the password", strings.Join(argv, " "), out)
			}
		}
	})
}

// recvAll reads a response stream to its end (bounded: the tests configure
// a handful of objects).
func recvAll[T any](t *testing.T, what string, recv func() (T, error)) []T {
	t.Helper()
	var out []T
	for range 100 {
		r, err := recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s stream: %v", what, err)
		}
		out = append(out, r)
	}
	t.Fatalf("%s stream: more than 100 responses", what)
	return nil
}

func messages[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, 0, len(in))
	for _, m := range in {
		out = append(out, m)
	}
	return out
}

// gobgpCLI is where `make tools` puts the gobgp CLI: $TOOLS_DIR or
// <repo>/.cache/tools, as e2e/lab finds it.
func gobgpCLI() string {
	repoRoot := filepath.Join("..", "..")
	dir := os.Getenv("TOOLS_DIR")
	switch {
	case dir == "":
		dir = filepath.Join(repoRoot, ".cache", "tools")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(repoRoot, dir)
	}
	return filepath.Join(dir, "bin", "gobgp")
}
