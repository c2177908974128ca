package agent

import (
	"net/netip"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

// advertisedRefresh is the longest the reporting loop reuses the advertised
// prefix counts it last read. They change when the agent's own announcements
// change (a node pass) or a session's state does, which both force a fresh
// read; what is left is a reflector passing on routes it learned, which shows
// within this time.
const advertisedRefresh = 30 * time.Second

// advertisedCache holds each session's advertised prefix count between the
// reporting passes that read it from GoBGP. Reading it walks the whole RIB
// once per neighbor (bgp.Speaker.Sessions): at 100,000 routes, every second
// while routes churn, that walk was about a seventh of the agent's CPU, to
// report counts that had not changed.
type advertisedCache struct {
	readAt time.Time
	// stale is set when a node pass may have changed what is announced.
	stale bool
	// sessions maps each neighbor to its state and count at the last read.
	sessions map[netip.Addr]advertisedAt
}

type advertisedAt struct {
	state      string
	advertised int
}

// due reports whether the next pass must read the advertised counts.
func (c *advertisedCache) due(now time.Time) bool {
	return c.sessions == nil || c.stale || now.Sub(c.readAt) >= advertisedRefresh
}

// markStale makes the next pass read the counts.
func (c *advertisedCache) markStale() { c.stale = true }

// store keeps the counts of sessions read with their advertised counts.
func (c *advertisedCache) store(sessions []bgp.PeerStatus, now time.Time) {
	c.sessions = make(map[netip.Addr]advertisedAt, len(sessions))
	for _, s := range sessions {
		c.sessions[s.Address] = advertisedAt{state: s.State, advertised: s.Advertised}
	}
	c.readAt, c.stale = now, false
}

// fill sets the advertised counts of sessions read without them from the
// last read. It returns false, filling nothing, when the set of neighbors or
// a session's state differs from that read: the counts may have changed, and
// the caller reads them afresh.
func (c *advertisedCache) fill(sessions []bgp.PeerStatus) bool {
	if len(sessions) != len(c.sessions) {
		return false
	}
	for _, s := range sessions {
		at, ok := c.sessions[s.Address]
		if !ok || at.state != s.State {
			return false
		}
	}
	for i := range sessions {
		sessions[i].Advertised = c.sessions[sessions[i].Address].advertised
	}
	return true
}
