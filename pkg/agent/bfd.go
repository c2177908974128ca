package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/plan"
)

// BFD runs the agent's BFD sessions (pkg/bfd): one per peer address that
// has BFD on, set whole every pass.
type BFD interface {
	Set(peers []bfd.Peer) error
	Status() []bfd.Status
	Drops() map[string]uint64
}

// bfdFailures are the peers whose BFD session went from Up to Down (the
// path failed) and has not been Up since. BFD's goroutines write it, the
// planner reads it: their BGP sessions are held down until then.
type bfdFailures struct {
	mu     sync.Mutex
	failed map[netip.Addr]bool
}

// record notes what a transition means for the peer's BGP session and
// tells whether that changed.
func (f *bfdFailures) record(ev bfd.Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case ev.PathFailed() && !f.failed[ev.Peer]:
		if f.failed == nil {
			f.failed = map[netip.Addr]bool{}
		}
		f.failed[ev.Peer] = true
		return true
	case ev.To == bfd.Up && f.failed[ev.Peer]:
		delete(f.failed, ev.Peer)
		return true
	}
	return false
}

// snapshot is the failed peers now, for the planner.
func (f *bfdFailures) snapshot() map[netip.Addr]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[netip.Addr]bool, len(f.failed))
	for a := range f.failed {
		out[a] = true
	}
	return out
}

// keepOnly forgets the failures of peers that no longer have BFD: nothing
// would ever lift their hold.
func (f *bfdFailures) keepOnly(sessions map[netip.Addr]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := range f.failed {
		if !sessions[a] {
			delete(f.failed, a)
		}
	}
}

// onBFDChange hears every BFD transition (pkg/bfd logs each). A failure or
// a recovery that changes a hold pokes the node loop for a BGP-only pass,
// which takes the session down (or lets it up) at once.
func (a *agent) onBFDChange(ev bfd.Event) {
	a.health.Metrics().BFDTransitions.WithLabelValues(ev.Peer.String(), ev.To.String()).Inc()
	if a.bfdFailures.record(ev) {
		a.bfdChanged.poke()
	}
	a.bfdStateChanged.poke()
}

// bfdPeers are the BFD sessions of the plan's peers: each from the BGP
// session's local address, so that the peer sees the address it has the
// neighbor for.
func bfdPeers(peers []bgp.Peer, self plan.Self) []bfd.Peer {
	var out []bfd.Peer
	for _, p := range peers {
		if p.BFD == (bfd.Timers{}) {
			continue
		}
		local := p.LocalAddress
		if !local.IsValid() {
			for _, ip := range self.IPs() {
				if ip.Is4() == p.Address.Is4() {
					local = ip
					break
				}
			}
		}
		out = append(out, bfd.Peer{Address: p.Address, Local: local, Timers: p.BFD})
	}
	return out
}

// syncBFD makes the BFD sessions those of the plan's peers. The sessions
// (and BFD's UDP port) exist only once some peer has BFD on.
func (a *agent) syncBFD(ctx context.Context, p plan.Plan) {
	want := bfdPeers(p.Peers, a.self)
	sessions := map[netip.Addr]bool{}
	for _, bp := range want {
		sessions[bp.Address] = true
	}
	a.bfdFailures.keepOnly(sessions)
	if a.bfd == nil {
		if len(want) == 0 {
			return
		}
		if err := a.startBFD(ctx); err != nil {
			a.report("bfd", err)
			return
		}
	}
	a.report("bfd", a.bfd.Set(want))
	a.observeBFD()
}

// startBFD opens BFD's sockets and runs it in the agent's group. On a stop
// the speaker closes its sessions first (no Cease: peers keep our routes as
// graceful-restart helpers) and only then does BFD say AdminDown, so that a
// peer that takes BFD down as a failure sees the BGP session already gone
// into graceful restart (see docs/peering.md, "BFD and graceful restart").
func (a *agent) startBFD(ctx context.Context) error {
	if a.loops == nil {
		return errors.New("BFD: no loop group to run in")
	}
	m, err := bfd.New(bfd.Config{Logger: a.log.With("component", "bfd"), OnChange: a.onBFDChange})
	if err != nil {
		return fmt.Errorf("starting BFD: %w", err)
	}
	a.bfd = m
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() {
		a.speaker.Stop()
		cancel()
	})
	a.loops.Go(func() error { return m.Run(bctx) })
	a.loops.Go(func() error { return a.bfdMetricsLoop(ctx) })
	return nil
}

// bfdMetricsLoop publishes the sessions' states on every transition.
func (a *agent) bfdMetricsLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.bfdStateChanged:
			a.observeBFD()
		}
	}
}

// observeBFD publishes each session's state and the dropped packets.
func (a *agent) observeBFD() {
	if a.bfd == nil {
		return
	}
	m := a.health.Metrics()
	states := map[string]string{}
	for _, st := range a.bfd.Status() {
		states[st.Peer.String()] = st.State.String()
	}
	m.SetBFDSessions(states)
	drops := a.bfd.Drops()
	reasons := make([]string, 0, len(drops))
	for r := range drops {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		m.SetBFDDropped(r, drops[r])
	}
}
