package bgp

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// redactedPassword replaces every set TCP-MD5 password in what GoBGP's gRPC
// API sends: the API is unauthenticated on loopback (so that the stock
// `gobgp` CLI works), and the passwords come from Kubernetes Secrets that
// nobody on the node should read through `gobgp neighbor`. A fixed marker,
// not an empty string, keeps "a password is set" visible to operators; not
// a hash or a length either, which would help guess short passwords.
const redactedPassword = "<redacted>"

// passwordField is the name of the field that holds a TCP-MD5 password in
// GoBGP's API (v3.37.0: PeerConf, PeerState, PeerGroupConf and
// PeerGroupState). Matching the name rather than these four types also
// covers any response type that embeds them, now or in a later version.
const passwordField protoreflect.Name = "auth_password"

// redactUnary and redactStream redact every response of the API (see
// apiServerOptions). They touch only the API: the Speaker calls BgpServer
// methods in-process and keeps reading the real passwords, which the peer
// reconcile compares against its desired set.
func redactUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if m, ok := resp.(proto.Message); ok {
		resp = redactPasswords(m)
	}
	return resp, err
}

func redactStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, redactingStream{ss})
}

// redactingStream redacts each message the server sends; what it receives
// (AddPeer carrying a password, say) passes unchanged.
type redactingStream struct{ grpc.ServerStream }

func (s redactingStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		m = redactPasswords(pm)
	}
	return s.ServerStream.SendMsg(m)
}

// redactPasswords returns m with every non-empty password replaced by
// redactedPassword. m itself is never changed: GoBGP may share parts of a
// response with its own state, so a message with a password is cloned
// first, and one without is returned as is.
func redactPasswords(m proto.Message) proto.Message {
	if !visitPasswords(m.ProtoReflect(), func(protoreflect.Message, protoreflect.FieldDescriptor) {}) {
		return m
	}
	out := proto.Clone(m)
	visitPasswords(out.ProtoReflect(), func(pm protoreflect.Message, fd protoreflect.FieldDescriptor) {
		pm.Set(fd, protoreflect.ValueOfString(redactedPassword))
	})
	return out
}

// visitPasswords calls f for each non-empty password field in m and the
// messages under it (fields, lists and maps), and reports whether it found
// one. f may set the field it is given.
func visitPasswords(m protoreflect.Message, f func(protoreflect.Message, protoreflect.FieldDescriptor)) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = visitPasswords(mv.Message(), f) || found
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				l := v.List()
				for i := range l.Len() {
					found = visitPasswords(l.Get(i).Message(), f) || found
				}
			}
		case fd.Message() != nil:
			found = visitPasswords(v.Message(), f) || found
		case fd.Name() == passwordField && fd.Kind() == protoreflect.StringKind && v.String() != "":
			f(m, fd)
			found = true
		}
		return true
	})
	return found
}
