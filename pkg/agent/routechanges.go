package agent

import (
	"net/netip"
	"sync"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

// maxPendingChanges bounds what the route loop collects between passes. A
// burst bigger than this (a peer sending a full table while a pass runs)
// is dropped for a full pass, which reads the RIB once instead.
const maxPendingChanges = 1 << 18

// Why a full route pass runs: the reason label of
// nodebgp_route_full_syncs_total. At 100,000 routes a full pass costs about
// a CPU-second, so an operator should be able to see what asks for them.
const (
	fullStart     = "start"     // the first pass, or the best-path watch (re)started
	fullPeriod    = "period"    // --routes-sync-period, the safety net
	fullLink      = "link"      // a link or an address changed
	fullBurst     = "burst"     // more changes pending than are kept one by one
	fullRecord    = "record"    // an update could not trust its record, or a write failed
	fullDeleted   = "deleted"   // a route of ours deleted by someone else
	fullConverged = "converged" // every peer converged: stale routes may go now
)

// linkQuiet is how long the link watch must be quiet before the full pass
// it asks for runs. A burst of link or address events (a bridge's ports
// coming up, say) makes one full pass, after the burst.
const linkQuiet = 200 * time.Millisecond

// routeChanges collects what the route loop has to do between two passes:
// the latest best-path change of each prefix, from GoBGP's events, or that a
// full pass is due (the timer, a link event, a watch that (re)started, a
// burst too big to keep, an Update that could not trust its record). Its
// methods never block for long: GoBGP's event delivery and netlink's
// subscription call them.
type routeChanges struct {
	poke trigger

	mu sync.Mutex
	// pending are the best-path changes since the last take, in the order
	// GoBGP decided them: a prefix changed twice is in it twice, and
	// routes.Reconciler.Update, which sorts a pass's changes by prefix,
	// takes the later. A list rather than a map by prefix: appending
	// allocates nothing once the list has grown, where a map a pass was
	// the route loop's largest garbage in a 100,000-route install.
	pending []bgp.BestChange
	// blocks are a burst's older changes, ahead of pending: each time
	// pending fills a batch it moves here as it is, and take hands the
	// blocks over one by one, so that a burst is neither copied as it
	// grows nor cut into copies as it is taken. Before 2026-12-07 one list
	// grew by doubling while the route loop fell behind (6.4 MB of the
	// agent's garbage in a 100,000-route withdraw, page faults in GoBGP's
	// server loop, which calls add) and each batch taken was a copy.
	blocks [][]bgp.BestChange
	// spare is an emptied block for the next pending of a burst, kept
	// only while the burst lasts.
	spare []bgp.BestChange
	// handed is the list the last take returned: the route loop uses it
	// until it takes again, so the next take may reuse it.
	handed []bgp.BestChange
	// gone are the prefixes whose route of ours the kernel reported
	// deleted since the last take: the loop's own deletions, or someone
	// else's (told apart with KernelRoutes.Holds).
	gone map[netip.Prefix]struct{}
	// full is why a full pass is due (the first reason given), "" when
	// none is.
	full string
	link *time.Timer // the pending full pass a link event asked for
}

func newRouteChanges() *routeChanges {
	return &routeChanges{poke: newTrigger(), gone: map[netip.Prefix]struct{}{}}
}

// add notes best-path changes; nil means a full pass is due (see
// bgp.Speaker.WatchBestPaths).
func (c *routeChanges) add(changes []bgp.BestChange) {
	if changes == nil {
		c.resync(fullStart)
		return
	}
	c.mu.Lock()
	if c.full == "" {
		for len(changes) > 0 {
			if len(c.pending) == maxBatch {
				c.blocks = append(c.blocks, c.pending)
				c.pending, c.spare = c.spare, nil
				if c.pending == nil {
					c.pending = make([]bgp.BestChange, 0, maxBatch)
				}
			}
			n := min(maxBatch-len(c.pending), len(changes))
			c.pending = append(c.pending, changes[:n]...)
			changes = changes[n:]
		}
		if len(c.blocks)*maxBatch+len(c.pending) > maxPendingChanges {
			c.full = fullBurst
			c.endBurst()
			c.pending = reusable(c.pending)
		}
	}
	c.mu.Unlock()
	c.poke.poke()
}

// endBurst lets go of what only a burst needs.
func (c *routeChanges) endBurst() {
	c.blocks, c.spare = nil, nil
}

// reusable empties a list of changes for reuse, or gives nil for one of a
// burst's blocks: keeping that would keep a batch's memory for good.
func reusable(l []bgp.BestChange) []bgp.BestChange {
	if cap(l) >= maxBatch {
		return nil
	}
	clear(l) // the next hops it holds are garbage now
	return l[:0]
}

// resync asks for a full pass, for why (one of the full* reasons).
func (c *routeChanges) resync(why string) {
	c.mu.Lock()
	if c.full == "" {
		c.full = why
	}
	c.mu.Unlock()
	c.poke.poke()
}

// linkChanged asks for a full pass once the link watch has been quiet for
// linkQuiet.
func (c *routeChanges) linkChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		c.link = time.AfterFunc(linkQuiet, func() { c.resync(fullLink) })
		return
	}
	c.link.Reset(linkQuiet)
}

// routeGone notes that the kernel deleted our route for p.
func (c *routeChanges) routeGone(p netip.Prefix) {
	c.mu.Lock()
	if c.full == "" {
		c.gone[p] = struct{}{}
		if len(c.gone) > maxPendingChanges {
			c.full = fullBurst
			clear(c.gone)
		}
	}
	c.mu.Unlock()
	c.poke.poke()
}

// maxBatch bounds the changes one pass applies. A burst (a peer sending a
// full table) is applied in slices of this size, each pass's garbage (the
// changes, their kernel writes, netlink messages) freed before the next, so
// what a burst costs at once does not grow with its size; the rest waits
// here, one small entry per change.
const maxBatch = 4096

// take returns what was collected since the last take, at most maxBatch
// changes (the loop is poked again for the rest), and the prefixes whose
// routes the kernel reported deleted. When a full pass is due, full says
// why, and changes and gone are nil: the full pass covers them. The list of
// changes is the caller's until it takes again: the next take reuses it.
func (c *routeChanges) take() (changes []bgp.BestChange, gone []netip.Prefix, full string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	full = c.full
	c.full = ""
	if len(c.gone) > 0 {
		if full == "" {
			gone = make([]netip.Prefix, 0, len(c.gone))
			for p := range c.gone {
				gone = append(gone, p)
			}
		}
		c.gone = map[netip.Prefix]struct{}{}
	}
	if full != "" {
		c.endBurst()
		c.pending = reusable(c.pending)
		return nil, nil, full
	}
	if len(c.blocks) > 0 {
		// A burst: its oldest block as it is; the loop is poked again
		// for the rest. The block handed before is emptied for the
		// burst's next pending.
		changes = c.blocks[0]
		c.blocks[0] = nil
		c.blocks = c.blocks[1:]
		if c.spare == nil && cap(c.handed) >= maxBatch {
			clear(c.handed)
			c.spare = c.handed[:0]
		}
		c.handed = changes
		c.poke.poke()
		return changes, gone, ""
	}
	changes = c.pending
	c.pending = reusable(c.handed)
	c.handed = changes
	c.endBurst()
	return changes, gone, ""
}
