package bgp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// recorder is the gobgpAPI seam in tests: it passes every call on to GoBGP
// and records those that change something, in order, as "AddPeer
// 127.0.0.2" and the like. fail, when set, is asked before each changing
// call and its error returned instead of making the call. It implements
// every method itself (no embedding), so that a new method of gobgpAPI does
// not compile until it is sorted into reading or changing here.
type recorder struct {
	gobgp gobgpAPI

	mu    sync.Mutex
	calls []string
	reads []string
	fail  func(call string) error
}

// reset returns the changing calls so far and forgets them and the reads.
func (r *recorder) reset() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls, r.reads = nil, nil
	return calls
}

// readCalls returns the reading calls since the last reset.
func (r *recorder) readCalls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reads)
}

func (r *recorder) read(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, fmt.Sprintf(format, args...))
}

func (r *recorder) change(format string, args ...any) error {
	call := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(call); err != nil {
			return err
		}
	}
	r.calls = append(r.calls, call)
	return nil
}

// setDescription is a defined set as "name member member ...".
func setDescription(ds *api.DefinedSet) string {
	members := slicesMap(ds.GetPrefixes(), memberKey)
	members = append(members, ds.GetList()...)
	return strings.TrimSpace(ds.GetName() + " " + strings.Join(members, " "))
}

func slicesMap[T any](in []T, f func(T) string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// pathPrefix is the prefix of a GoBGP path, for the record.
func pathPrefix(p *api.Path) string {
	var pfx api.IPAddressPrefix
	if err := p.GetNlri().UnmarshalTo(&pfx); err != nil {
		return "?"
	}
	return fmt.Sprintf("%s/%d", pfx.GetPrefix(), pfx.GetPrefixLen())
}

// Reading calls.

func (r *recorder) ListDefinedSet(ctx context.Context, req *api.ListDefinedSetRequest, fn func(*api.DefinedSet)) error {
	r.read("ListDefinedSet %s %s", req.GetDefinedType(), req.GetName())
	return r.gobgp.ListDefinedSet(ctx, req, fn)
}

func (r *recorder) ListPolicy(ctx context.Context, req *api.ListPolicyRequest, fn func(*api.Policy)) error {
	r.read("ListPolicy %s", req.GetName())
	return r.gobgp.ListPolicy(ctx, req, fn)
}

func (r *recorder) ListPolicyAssignment(ctx context.Context, req *api.ListPolicyAssignmentRequest, fn func(*api.PolicyAssignment)) error {
	r.read("ListPolicyAssignment %s", req.GetDirection())
	return r.gobgp.ListPolicyAssignment(ctx, req, fn)
}

func (r *recorder) ListPeer(ctx context.Context, req *api.ListPeerRequest, fn func(*api.Peer)) error {
	r.read("ListPeer %s", req.GetAddress())
	return r.gobgp.ListPeer(ctx, req, fn)
}

func (r *recorder) ListPath(ctx context.Context, req *api.ListPathRequest, fn func(*api.Destination)) error {
	switch {
	case req.GetEnableOnlyBinary():
		r.read("ListPath %s binary", familyName(req.GetFamily()))
	case len(req.GetPrefixes()) > 0:
		r.read("ListPath %s %d prefixes", familyName(req.GetFamily()), len(req.GetPrefixes()))
	default:
		r.read("ListPath %s", familyName(req.GetFamily()))
	}
	return r.gobgp.ListPath(ctx, req, fn)
}

func (r *recorder) ListLocalPaths(fn func([]server.BestPath)) error {
	r.read("ListLocalPaths")
	return r.gobgp.ListLocalPaths(fn)
}

// Changing calls.

func (r *recorder) AddDefinedSet(ctx context.Context, req *api.AddDefinedSetRequest) error {
	if err := r.change("AddDefinedSet %s", setDescription(req.GetDefinedSet())); err != nil {
		return err
	}
	return r.gobgp.AddDefinedSet(ctx, req)
}

func (r *recorder) DeleteDefinedSet(ctx context.Context, req *api.DeleteDefinedSetRequest) error {
	if err := r.change("DeleteDefinedSet %s all=%v", setDescription(req.GetDefinedSet()), req.GetAll()); err != nil {
		return err
	}
	return r.gobgp.DeleteDefinedSet(ctx, req)
}

func (r *recorder) AddPolicy(ctx context.Context, req *api.AddPolicyRequest) error {
	if err := r.change("AddPolicy %s", req.GetPolicy().GetName()); err != nil {
		return err
	}
	return r.gobgp.AddPolicy(ctx, req)
}

func (r *recorder) DeletePolicy(ctx context.Context, req *api.DeletePolicyRequest) error {
	if err := r.change("DeletePolicy %s", req.GetPolicy().GetName()); err != nil {
		return err
	}
	return r.gobgp.DeletePolicy(ctx, req)
}

func (r *recorder) SetPolicyAssignment(ctx context.Context, req *api.SetPolicyAssignmentRequest) error {
	a := req.GetAssignment()
	names := slicesMap(a.GetPolicies(), (*api.Policy).GetName)
	if err := r.change("SetPolicyAssignment %s %s", a.GetDirection(), strings.Join(names, " ")); err != nil {
		return err
	}
	return r.gobgp.SetPolicyAssignment(ctx, req)
}

func (r *recorder) AddPeer(ctx context.Context, req *api.AddPeerRequest) error {
	if err := r.change("AddPeer %s", req.GetPeer().GetConf().GetNeighborAddress()); err != nil {
		return err
	}
	return r.gobgp.AddPeer(ctx, req)
}

func (r *recorder) UpdatePeer(ctx context.Context, req *api.UpdatePeerRequest) (*api.UpdatePeerResponse, error) {
	if err := r.change("UpdatePeer %s", req.GetPeer().GetConf().GetNeighborAddress()); err != nil {
		return nil, err
	}
	return r.gobgp.UpdatePeer(ctx, req)
}

func (r *recorder) DeletePeer(ctx context.Context, req *api.DeletePeerRequest) error {
	if err := r.change("DeletePeer %s", req.GetAddress()); err != nil {
		return err
	}
	return r.gobgp.DeletePeer(ctx, req)
}

func (r *recorder) ResetPeer(ctx context.Context, req *api.ResetPeerRequest) error {
	if err := r.change("ResetPeer %s soft=%v %s", req.GetAddress(), req.GetSoft(), req.GetDirection()); err != nil {
		return err
	}
	return r.gobgp.ResetPeer(ctx, req)
}

func (r *recorder) EnablePeer(ctx context.Context, req *api.EnablePeerRequest) error {
	if err := r.change("EnablePeer %s", req.GetAddress()); err != nil {
		return err
	}
	return r.gobgp.EnablePeer(ctx, req)
}

func (r *recorder) DisablePeer(ctx context.Context, req *api.DisablePeerRequest) error {
	if err := r.change("DisablePeer %s", req.GetAddress()); err != nil {
		return err
	}
	return r.gobgp.DisablePeer(ctx, req)
}

func (r *recorder) AddPath(ctx context.Context, req *api.AddPathRequest) (*api.AddPathResponse, error) {
	if err := r.change("AddPath %s", pathPrefix(req.GetPath())); err != nil {
		return nil, err
	}
	return r.gobgp.AddPath(ctx, req)
}

func (r *recorder) DeletePath(ctx context.Context, req *api.DeletePathRequest) error {
	if err := r.change("DeletePath %s", pathPrefix(req.GetPath())); err != nil {
		return err
	}
	return r.gobgp.DeletePath(ctx, req)
}
