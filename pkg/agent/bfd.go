package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/plan"
)

// bfdHoldSilent bounds a hold on a peer we hear nothing from at all: a
// peer that creates its BFD session only once BGP is up (FRR with `bgp
// listen range` dynamic neighbors deletes the neighbor, and its BFD session,
// when the session drops) would otherwise never bring BFD Up again, and the
// hold would last forever. While the peer's BFD answers (Down, Init), the
// hold lasts until it is Up; after this long without a single transition,
// BGP may try again.
//
// A released peer whose BFD comes Up later is held for one pass more and
// then let go (kick): the neighbor is added afresh and dials at once, instead
// of at GoBGP's next connect retry (up to twice ConnectRetry away).
const bfdHoldSilent = 3 * time.Second

// bfdFailures are the peers whose BFD session went from Up to Down (the
// path failed) and has not been Up since. BFD's goroutines write it, the
// planner reads it (held): their BGP sessions are held down until BFD is Up
// again, or the peer stayed silent for bfdHoldSilent.
type bfdFailures struct {
	mu     sync.Mutex
	failed map[netip.Addr]*bfdFailure
	kick   map[netip.Addr]bool // released peers whose BFD came Up
	// up are the peers whose BFD session is Up, lastFailed when each
	// last failed, ended the BGP sessions that ended and wait for a
	// redial (redial.go).
	up         map[netip.Addr]bool
	lastFailed map[netip.Addr]time.Time
	ended      map[netip.Addr]time.Time
	lastEnded  map[netip.Addr]time.Time // kept after a redial, see noteState
}

// bfdFailure is one failed peer's hold.
type bfdFailure struct {
	heard time.Time // when we last heard from the peer's BFD
	// released: the peer was silent for bfdHoldSilent, so its session may
	// come back before BFD does; nothing but a new failure holds it again.
	released bool
}

// record notes what a transition means for the peer's BGP session: changed
// tells whether the peer failed or recovered, failed whether it is failed
// after the transition.
func (f *bfdFailures) record(ev bfd.Event, now time.Time) (changed, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noteState(ev, now) {
		changed = true // a session end waits for this Up (redial.go)
	}
	cur, failed := f.failed[ev.Peer]
	if failed && !cur.released && now.Sub(cur.heard) >= bfdHoldSilent {
		cur.released = true
	}
	switch {
	case ev.PathFailed() && (!failed || cur.released):
		if f.failed == nil {
			f.failed = map[netip.Addr]*bfdFailure{}
		}
		f.failed[ev.Peer] = &bfdFailure{heard: now}
		return true, true
	case ev.To == bfd.Up && failed:
		if cur.released {
			if f.kick == nil {
				f.kick = map[netip.Addr]bool{}
			}
			f.kick[ev.Peer] = true
		}
		delete(f.failed, ev.Peer)
		return true, false
	case failed && !cur.released:
		// Still failed, but the peer's BFD is there: the hold stands.
		cur.heard = now
	}
	return changed, failed && !cur.released
}

// held is the peers whose BGP sessions are held down now, and the kicks
// (taken: each is given once), for the planner.
func (f *bfdFailures) held(now time.Time) (held, kicks map[netip.Addr]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	held = make(map[netip.Addr]bool, len(f.failed))
	for a, cur := range f.failed {
		if !cur.released && now.Sub(cur.heard) >= bfdHoldSilent {
			cur.released = true
		}
		if !cur.released {
			held[a] = true
		}
	}
	kicks, f.kick = f.kick, nil
	return held, kicks
}

// bfdHeld is the planner's BFDFailed: the held peers, and the kicked ones
// whose BGP session is not established (a kick must never end a session
// that came up meanwhile: a peer that starts BFD only after BGP would lose
// it again). A kick asks for a second pass, which lets the peer go.
func (a *agent) bfdHeld(ctx context.Context) map[netip.Addr]bool {
	held, kicks := a.bfdFailures.held(a.now())
	if len(kicks) == 0 {
		return held
	}
	peers, err := a.speaker.Peers(ctx)
	if err != nil {
		return held // no kick: the neighbor dials at its next connect retry
	}
	for _, p := range peers {
		if kicks[p.Address] && p.State != bgp.StateEstablished {
			held[p.Address] = true
			a.bfdChanged.poke()
		}
	}
	return held
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
	for _, m := range []map[netip.Addr]bool{f.kick, f.up} {
		for a := range m {
			if !sessions[a] {
				delete(m, a)
			}
		}
	}
	for _, m := range []map[netip.Addr]time.Time{f.lastFailed, f.ended, f.lastEnded} {
		for a := range m {
			if !sessions[a] {
				delete(m, a)
			}
		}
	}
}

// onBFDChange hears every BFD transition (pkg/bfd logs each). A failure or
// a recovery that changes a hold pokes the node loop for a BGP-only pass,
// which takes the session down (or lets it up) at once.
func (a *agent) onBFDChange(ev bfd.Event) {
	a.health.Metrics().BFDTransitions.WithLabelValues(ev.Peer.String(), ev.To.String()).Inc()
	changed, failed := a.bfdFailures.record(ev, a.now())
	if changed {
		a.bfdChanged.poke()
	}
	if failed {
		// A pass when the hold of a peer that stays silent from now on
		// runs out (see bfdHoldSilent); a pass that finds it still standing
		// changes nothing.
		time.AfterFunc(bfdHoldSilent+10*time.Millisecond, a.bfdChanged.poke)
	}
	a.bfdStateChanged.poke()
	// The status shows each session's BFD state; its writer coalesces a
	// flapping session's transitions (at most one write per interval).
	a.reported.changed.poke()
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
	a.noteBFD(m)
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
