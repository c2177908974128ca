package agent

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
	"github.com/nodebgp/router/pkg/health"
	"github.com/nodebgp/router/pkg/plan"
	"github.com/nodebgp/router/pkg/status"
)

const (
	// reportPeriod is how often the reporting loop reads the speaker's
	// sessions when nothing pokes it: a session that goes down shows in
	// /metrics and the status within this time.
	reportPeriod = 5 * time.Second
	// reportGap is the least time between two reporting passes, whatever
	// pokes them (a big cluster's node events come by the hundred).
	reportGap = time.Second
)

// reportState is what the node and route loops hand the reporting loop:
// the latest of what they planned, applied and found.
type reportState struct {
	mu           sync.Mutex
	planned      bool
	identity     plan.Identity
	role         plan.Role
	peers        []bgp.Peer
	advertised   []bgp.Path
	kernelRoutes int
	routesErr    error
	// bfd is the agent's BFD once it runs (noteBFD), read at each pass.
	bfd     BFD
	changed trigger
	// advertisedCounts belongs to the reporting loop: only reportPass
	// touches it. A node pass sets nodePassed, which makes the next
	// reportPass read the advertised counts afresh.
	advertisedCounts advertisedCache
	nodePassed       bool
}

// noteNodePass records a node pass's plan and what the speaker was asked to
// announce, and pokes the reporting loop.
func (a *agent) noteNodePass(p plan.Plan) {
	r := &a.reported
	r.mu.Lock()
	r.planned = true
	r.identity, r.role, r.peers, r.advertised = p.Identity, p.Role, p.Peers, a.advertised
	r.nodePassed = true
	r.mu.Unlock()
	r.changed.poke()
}

// noteRouteSync records a kernel sync's route count and error.
func (a *agent) noteRouteSync(kernelRoutes int, err error) {
	r := &a.reported
	r.mu.Lock()
	r.kernelRoutes, r.routesErr = kernelRoutes, err
	r.mu.Unlock()
	r.changed.poke()
}

// noteBFD hands the reporting loop the BFD sessions to read: set once, when
// BFD starts (the node loop starts it).
func (a *agent) noteBFD(b BFD) {
	r := &a.reported
	r.mu.Lock()
	r.bfd = b
	r.mu.Unlock()
	r.changed.poke()
}

// reportLoop publishes the per-peer metrics and the node's BGPNodeState
// from its own goroutine: reading GoBGP's sessions (with their advertised
// counts) and handing the status to its writer never delay a node or route
// pass.
func (a *agent) reportLoop(ctx context.Context) error {
	tick := time.NewTicker(reportPeriod)
	defer tick.Stop()
	for {
		a.reportPass(ctx)
		gap := time.NewTimer(reportGap)
		select {
		case <-ctx.Done():
			gap.Stop()
			return ctx.Err()
		case <-gap.C:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.reported.changed:
		case <-tick.C:
		}
	}
}

// reportPass reads the speaker's sessions once and publishes them.
func (a *agent) reportPass(ctx context.Context) {
	r := &a.reported
	r.mu.Lock()
	if !r.planned {
		r.mu.Unlock()
		return
	}
	in := status.Inputs{
		Node:         a.cfg.NodeName,
		ASN:          r.identity.ASN,
		RouterID:     a.routerID,
		Role:         string(r.role),
		ClusterID:    r.identity.ClusterID,
		Peers:        r.peers,
		Advertised:   r.advertised,
		KernelRoutes: r.kernelRoutes,
		RoutesErr:    r.routesErr,
	}
	bfdSessions := r.bfd
	if r.nodePassed {
		r.advertisedCounts.markStale()
		r.nodePassed = false
	}
	r.mu.Unlock()
	if bfdSessions != nil {
		in.BFD = bfdSessions.Status()
	}
	in.RoutesSynced = a.routesSyncDone()

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	in.Sessions, in.SessionsErr = a.readSessions(sctx, &r.advertisedCounts)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if in.SessionsErr == nil {
		a.observeSessions(in.Peers, in.Sessions)
	}
	if a.statusWriter == nil {
		return
	}
	if n := a.ownNode(); n != nil {
		in.NodeUID = string(n.UID)
	}
	a.statusWriter.Update(status.Build(in))
}

// readSessions reads the speaker's sessions, with their advertised counts
// only when those may have changed (advertisedCache).
func (a *agent) readSessions(ctx context.Context, counts *advertisedCache) ([]bgp.PeerStatus, error) {
	now := a.now()
	if !counts.due(now) {
		sessions, err := a.speaker.Sessions(ctx, false)
		if err != nil || counts.fill(sessions) {
			return sessions, err
		}
	}
	sessions, err := a.speaker.Sessions(ctx, true)
	if err == nil {
		counts.store(sessions, now)
	}
	return sessions, err
}

// observeSessions publishes the per-state counts and the per-peer metrics.
func (a *agent) observeSessions(planned []bgp.Peer, sessions []bgp.PeerStatus) {
	kinds := make(map[netip.Addr]bgp.PeerKind, len(planned))
	for _, p := range planned {
		kinds[p.Address] = p.Kind
	}
	byState := map[string]int{}
	samples := make([]health.PeerSample, 0, len(sessions))
	for _, s := range sessions {
		byState[s.State]++
		samples = append(samples, health.PeerSample{
			Address:             s.Address.String(),
			Kind:                status.KindName(kinds[s.Address]),
			Established:         s.State == bgp.StateEstablished,
			Received:            s.Received,
			Accepted:            s.Accepted,
			Advertised:          s.Advertised,
			UpdatesReceived:     s.UpdatesReceived,
			UpdatesSent:         s.UpdatesSent,
			SessionsUp:          s.SessionsUp,
			SessionsDown:        s.SessionsDown,
			PrefixLimitExceeded: s.PrefixLimited,
		})
	}
	m := a.health.Metrics()
	m.SetBGPPeers(byState)
	m.SetPeerSessions(samples)
}
