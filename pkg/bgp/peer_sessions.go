package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
)

// sessionCounts are how often a neighbor's session came up and went down
// since it was configured. GoBGP's api.PeerState has no such counter (its
// EstablishedCount is not in the API, and Flops counts only sessions that
// lasted under 30 s), so they are counted from its "Peer Up" and "Peer Down"
// lines (fsm.go:1983, fsm.go:1998), which it logs for every transition into
// and out of Established.
type sessionCounts struct{ up, down uint64 }

// countSession notes a "Peer Up" or "Peer Down" line about a neighbor.
func (e *peerEvents) countSession(msg string, fields map[string]any) {
	if fields["Topic"] != "Peer" {
		return
	}
	key, _ := fields["Key"].(string)
	addr, err := netip.ParseAddr(key)
	if err != nil {
		return
	}
	if msg == "Peer Down" && e.onDown != nil {
		defer e.onDown(addr.Unmap()) // after the count, outside the lock
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions == nil {
		e.sessions = map[netip.Addr]sessionCounts{}
	}
	c := e.sessions[addr.Unmap()]
	switch msg {
	case "Peer Up":
		c.up++
	case "Peer Down":
		c.down++
	}
	e.sessions[addr.Unmap()] = c
}

// sessionCounts returns the counts noted for addr.
func (e *peerEvents) sessionCounts(addr netip.Addr) sessionCounts {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[addr]
}

// Sessions is Peers with what only an operator needs: when each session's
// state last changed, and its message and session counters; with
// withAdvertised, also the prefixes advertised to each neighbor. Those cost
// the most: GoBGP computes each neighbor's advertised count by running its
// export policy over every best path (server.go:3169), a walk of the whole
// RIB per neighbor, so callers ask for them only when they may have changed
// (the reporting loop, advertisedcache.go); without, Advertised is 0.
func (s *Speaker) Sessions(ctx context.Context, withAdvertised bool) ([]PeerStatus, error) {
	var out []PeerStatus
	err := s.server.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: withAdvertised}, func(p *api.Peer) {
		st, err := peerStatusFromAPI(p)
		if err != nil {
			return // Peers logs it
		}
		st.LastError = s.events.get(st.Address)
		c := s.events.sessionCounts(st.Address)
		st.SessionsUp, st.SessionsDown = c.up, c.down
		addDetail(&st, p)
		out = append(out, st)
	})
	if err != nil {
		return nil, fmt.Errorf("listing BGP neighbors: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Address.Compare(b.Address) })
	return out, nil
}

// addDetail fills the fields of PeerStatus that only Sessions sets.
func addDetail(st *PeerStatus, p *api.Peer) {
	for _, a := range p.GetAfiSafis() {
		if a.GetConfig().GetEnabled() {
			st.Advertised += int(a.GetState().GetAdvertised())
		}
	}
	st.PrefixLimited = p.GetState().GetAdminState() == api.PeerState_PFX_CT
	msgs := p.GetState().GetMessages()
	st.UpdatesReceived = msgs.GetReceived().GetUpdate()
	st.UpdatesSent = msgs.GetSent().GetUpdate()
	timers := p.GetTimers().GetState()
	since := timers.GetDowntime()
	if st.State == StateEstablished {
		since = timers.GetUptime()
	}
	if since.GetSeconds() > 0 {
		st.Since = since.AsTime()
	}
}
