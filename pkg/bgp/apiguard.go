package bgp

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// readOnlyPrefixes are the GoBGP API methods that only read: ListPeer,
// ListPath, GetBgp, GetTable, WatchEvent and the like. Everything else
// changes the speaker (AddPath, DeletePeer, SetPolicies, StopBgp,
// ResetPeer, ...).
var readOnlyPrefixes = []string{"List", "Get", "Watch"}

// methodName is the last element of a gRPC full method name:
// "/apipb.GobgpApi/ListPeer" is ListPeer.
func methodName(fullMethod string) string {
	return fullMethod[strings.LastIndex(fullMethod, "/")+1:]
}

// readOnlyMethod tells whether fullMethod only reads.
func readOnlyMethod(fullMethod string) bool {
	name := methodName(fullMethod)
	for _, p := range readOnlyPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// errReadOnly is what a refused call gets: which method, why, and the flag
// that allows it.
func errReadOnly(fullMethod string) error {
	return status.Errorf(codes.PermissionDenied,
		"nodebgp: the GoBGP API is read-only, %s refused: the agent owns peers, paths and policy, and every hostNetwork pod can reach this port (start the agent with --gobgp-api-allow-writes to allow it)",
		methodName(fullMethod))
}

// apiServerOptions guard GoBGP's gRPC API. It listens on loopback, which
// every hostNetwork pod of the node shares: unguarded, any of them could
// announce a route to the whole fabric or drop the node's sessions. So
// unless allowWrites, only reading methods are served; and passwords are
// always redacted (see redactPasswords).
func apiServerOptions(allowWrites bool) []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !allowWrites && !readOnlyMethod(info.FullMethod) {
			return nil, errReadOnly(info.FullMethod)
		}
		return redactUnary(ctx, req, info, handler)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !allowWrites && !readOnlyMethod(info.FullMethod) {
			return errReadOnly(info.FullMethod)
		}
		return redactStream(srv, ss, info, handler)
	}
	return []grpc.ServerOption{grpc.UnaryInterceptor(unary), grpc.StreamInterceptor(stream)}
}
