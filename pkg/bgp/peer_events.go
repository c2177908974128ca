package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// peerEvents keeps, per neighbor, the last problem GoBGP logged about it:
// why its session went down (a NOTIFICATION sent or received, hold timer
// expiry, a closed connection), a prefix limit hit. GoBGP's neighbor state
// (api.PeerState) has no such field; its log lines are the only record.
type peerEvents struct {
	mu   sync.Mutex
	last map[netip.Addr]peerEvent
	// sessions counts each neighbor's sessions up and down (peer_sessions.go).
	sessions map[netip.Addr]sessionCounts
	// onDown is Config.OnSessionDown; nil when nobody asks.
	onDown func(netip.Addr)
}

// peerEvent is what went wrong with a neighbor, most recent last: the
// cause ("prefix limit reached"), the NOTIFICATION, the session going down.
type peerEvent struct {
	msgs []string
	at   time.Time
}

// Lines about one neighbor less than eventBurst apart tell one story.
const (
	eventBurst   = time.Second
	maxEventMsgs = 4
)

func newPeerEvents(onDown func(netip.Addr)) *peerEvents {
	return &peerEvents{last: map[netip.Addr]peerEvent{}, onDown: onDown}
}

// note records msg (with its reason, if any) for the neighbor a GoBGP log
// line is about. Lines not about one neighbor address are ignored.
func (e *peerEvents) note(msg string, fields map[string]any) {
	if fields["Topic"] != "Peer" {
		return
	}
	key, _ := fields["Key"].(string)
	addr, err := netip.ParseAddr(key)
	if err != nil {
		return
	}
	if reason, ok := fields["Reason"]; ok {
		msg = fmt.Sprintf("%s: %v", msg, reason)
	}
	if fam, ok := fields["Family"]; ok {
		msg = fmt.Sprintf("%s (%v)", msg, fam)
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	ev := e.last[addr.Unmap()]
	if now.Sub(ev.at) > eventBurst {
		ev.msgs = nil
	}
	switch {
	case slices.Contains(ev.msgs, msg):
		// Told already: GoBGP logs "prefix limit reached" for every
		// UPDATE that comes before the session is torn down, and the
		// repeats must not push the cause out of the story.
	case len(ev.msgs) >= maxEventMsgs:
		ev.msgs = []string{msg}
	default:
		ev.msgs = append(ev.msgs, msg)
	}
	e.last[addr.Unmap()] = peerEvent{msgs: ev.msgs, at: now}
}

// get returns the last problem noted for addr, "" if none.
func (e *peerEvents) get(addr netip.Addr) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.last[addr].msgs, "; ")
}

// forget drops what was noted about addr (a neighbor deleted).
func (e *peerEvents) forget(addr netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.last, addr)
	delete(e.sessions, addr)
}
