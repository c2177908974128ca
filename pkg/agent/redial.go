package agent

import (
	"net/netip"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
)

// redialWindow bounds how long a BGP session end waits for its peer's BFD
// to be Up before it is let go, and how recent a BFD failure must be to
// count as the cause of a session end. GoBGP's own idle hold (5 s) and
// first dial (1-2 s) have brought the session back by then.
const redialWindow = 10 * time.Second

// failureNearEnd is how close to a session's end a BFD failure must be to
// count as its cause, so that the routes graceful restart keeps may go: the
// two come within milliseconds of each other when a link fails (the peer's
// Cease or reset arrives as the link returns, the detection time runs out
// about then). A failure seconds before belongs to an earlier session: in
// e2e/bfd a planned restart 5 s after a flapping link lost its routes with
// a 10 s bound.
const failureNearEnd = 2 * time.Second

// Why a node whose link failed for a moment came back after 6.5-8 s, not
// 2-3 s (docs/benchmarks.md, "Failover"): the other nodes held their
// sessions with it down (BFD) and their Hard Reset, sent into the dead
// link, arrived once it was back, after this node's own BFD had already
// recovered (or had not noticed at all). GoBGP ended the session itself,
// and then held the neighbor idle for its fixed 5 s, refusing the other
// side's dial meanwhile. A session that ends while BFD says the path
// works is redialed instead (bgp.Desired.Redial): re-created, which dials
// at once. A session that ends while BFD is Down waits for BFD to be Up,
// as a held one does (RFC 5882 §4.3.1).

// noteState keeps each peer's BFD state and last failure, and tells
// whether a session end was waiting for this Up. Called with f.mu held.
func (f *bfdFailures) noteState(ev bfd.Event, now time.Time) (waited bool) {
	if f.up == nil {
		f.up, f.lastFailed = map[netip.Addr]bool{}, map[netip.Addr]time.Time{}
		f.ended, f.lastEnded = map[netip.Addr]time.Time{}, map[netip.Addr]time.Time{}
	}
	f.up[ev.Peer] = ev.To == bfd.Up
	if ev.PathFailed() {
		f.lastFailed[ev.Peer] = now
		// A session that GoBGP ended just before BFD noticed the
		// failure (a closed socket, so GoBGP keeps the peer's routes as
		// stale) was declined a redial that may drop them: ask again.
		if at, ok := f.lastEnded[ev.Peer]; ok && now.Sub(at) <= redialWindow {
			f.ended[ev.Peer] = at
		}
	}
	at, waited := f.ended[ev.Peer]
	return waited && ev.To == bfd.Up && now.Sub(at) <= redialWindow
}

// sessionEnded notes that peer's BGP session left Established, and tells
// whether that may lead to a redial: only a peer with a BFD session (one
// that has changed state at least once) can have one.
func (f *bfdFailures) sessionEnded(peer netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.up[peer]; !ok {
		return false
	}
	f.ended[peer] = now
	f.lastEnded[peer] = now
	return true
}

// redials takes the session ends to act on now: those of peers whose BFD
// is Up and that are not held (a held peer is re-created when its hold is
// lifted). The value says the peer's BFD failed within failureNearEnd of
// the end, so the end came from that failure and the routes graceful restart keeps
// from the peer must go too (RFC 5882 §4.3.1: a BFD failure takes the
// session and its routes down); otherwise they may be a planned restart's
// stale routes, which must stay. Ends that wait for BFD longer than
// redialWindow are dropped.
func (f *bfdFailures) redials(now time.Time, held map[netip.Addr]bool) map[netip.Addr]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out map[netip.Addr]bool
	for peer, at := range f.ended {
		switch {
		case held[peer] || now.Sub(at) > redialWindow:
			delete(f.ended, peer)
		case f.up[peer]:
			if out == nil {
				out = map[netip.Addr]bool{}
			}
			failed, ok := f.lastFailed[peer]
			out[peer] = ok && failed.Sub(at).Abs() <= failureNearEnd
			delete(f.ended, peer)
		}
	}
	return out
}

// onSessionDown hears GoBGP end a session (bgp.Config.OnSessionDown): a
// BGP-only pass decides at once whether to redial it.
func (a *agent) onSessionDown(peer netip.Addr) {
	if a.bfdFailures.sessionEnded(peer, a.now()) {
		a.bfdChanged.poke()
	}
}
