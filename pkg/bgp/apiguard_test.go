package bgp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestOnlyListGetAndWatchMethodsRead(t *testing.T) {
	for method, reads := range map[string]bool{
		"/apipb.GobgpApi/ListPeer":         true,
		"/apipb.GobgpApi/ListPath":         true,
		"/apipb.GobgpApi/GetBgp":           true,
		"/apipb.GobgpApi/GetTable":         true,
		"/apipb.GobgpApi/WatchEvent":       true,
		"/apipb.GobgpApi/AddPath":          false,
		"/apipb.GobgpApi/AddPathStream":    false,
		"/apipb.GobgpApi/DeletePeer":       false,
		"/apipb.GobgpApi/ResetPeer":        false,
		"/apipb.GobgpApi/ShutdownPeer":     false,
		"/apipb.GobgpApi/SetPolicies":      false,
		"/apipb.GobgpApi/StopBgp":          false,
		"/apipb.GobgpApi/EnableMrt":        false,
		"/apipb.GobgpApi/AddDefinedSet":    false,
		"/apipb.GobgpApi/UpdatePeerGroup":  false,
		"/apipb.GobgpApi/DisableNeighbour": false,
	} {
		if got := readOnlyMethod(method); got != reads {
			t.Errorf("readOnlyMethod(%s) = %v, want %v", method, got, reads)
		}
	}
}

// TestGRPCAPIIsReadOnlyUnlessWritesAreAllowed: over a real gRPC connection,
// reading works either way; announcing a route (unary AddPath and streamed
// AddPathStream) is refused with PermissionDenied naming the method and the
// flag, and leaves the RIB alone, unless APIAllowWrites.
func TestGRPCAPIIsReadOnlyUnlessWritesAreAllowed(t *testing.T) {
	hijack := Path{Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr(testNextHopA)}
	for _, allow := range []bool{false, true} {
		a, _, client := startWithAPI(t, allow)
		ctx := testContext(t)
		if _, err := client.GetBgp(ctx, &api.GetBgpRequest{}, grpc.WaitForReady(true)); err != nil {
			t.Fatalf("allow writes %v: GetBgp: %v", allow, err)
		}
		p, err := apiPath(hijack)
		if err != nil {
			t.Fatal(err)
		}
		_, addErr := client.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		stream, err := client.AddPathStream(ctx)
		if err != nil {
			t.Fatalf("opening AddPathStream: %v", err)
		}
		_ = stream.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: []*api.Path{p}})
		_, streamErr := stream.CloseAndRecv()

		dsts, err := a.speaker.listGlobal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		local, _ := localPaths(dsts)
		announced := slices.ContainsFunc(local, func(l Path) bool { return l.Prefix == hijack.Prefix })
		if allow {
			if addErr != nil || streamErr != nil || !announced {
				t.Errorf("writes allowed: AddPath %v, AddPathStream %v, %s in the RIB %v; want both served and the path in", addErr, streamErr, hijack.Prefix, announced)
			}
			continue
		}
		for name, err := range map[string]error{"AddPath": addErr, "AddPathStream": streamErr} {
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), name+" refused") || !strings.Contains(err.Error(), "--gobgp-api-allow-writes") {
				t.Errorf("read-only API: %s error %v, want PermissionDenied naming %s and the flag", name, err, name)
			}
		}
		if announced {
			t.Errorf("read-only API: %s reached the RIB: %v", hijack.Prefix, local)
		}
	}
}
