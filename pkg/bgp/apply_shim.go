package bgp

import (
	"context"
	"errors"
	"fmt"
)

// TEMPORARY: replaced by the one-pass Apply of branch core-bgp.

type Desired struct {
	Policy     Policy
	Peers      []Peer
	Advertised []Path
}

type ApplyResult struct{ Policy, Peers, Advertise error }

func (r ApplyResult) Err() error { return errors.Join(r.Policy, r.Peers, r.Advertise) }

func (s *Speaker) Apply(ctx context.Context, d Desired) ApplyResult {
	var r ApplyResult
	if r.Policy = s.SetPolicy(ctx, d.Policy); r.Policy != nil {
		r.Peers = fmt.Errorf("skipped: the policy failed")
		return r
	}
	r.Peers = s.SetPeers(ctx, d.Peers)
	r.Advertise = s.SetAdvertised(ctx, d.Advertised)
	return r
}
