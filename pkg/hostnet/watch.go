package hostnet

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WatchLinks calls changed whenever something happens in the current network
// namespace that can change which routes the kernel carries: a link that can
// carry routes comes, goes, or goes up or down (the kernel flushes routes via
// a link that goes down), or an address other than an IPv6 link-local one is
// added or removed (see linkChanged and addrChanged). changed should only poke a
// reconcile loop: the events carry no detail worth acting on by themselves.
// A deleted route of routes.Protocol goes to routeGone with its destination
// instead, unless the agent's route writer deleted it: writerPort is that
// writer's netlink port ID (routes.Reconciler.WriterPort), read at each
// subscription, and its deletions never leave the kernel. While it is 0
// (the writer is not open yet) every deletion is passed on, and the agent's
// record tells its own from a hand's (see routes.Reconciler.Holds).
//
// If a subscription breaks (its socket overflowed, say), events may have been
// lost: WatchLinks calls changed and subscribes again. Only a broken route
// subscription does not call changed: what it may have lost, a route of ours
// deleted by hand, the periodic full sync repairs anyway. It returns nil when
// ctx ends, and an error only if it cannot subscribe.
func (h *Host) WatchLinks(ctx context.Context, changed func(), routeGone func(netip.Prefix), writerPort func() uint32) error {
	links := make(map[int]linkState)
	backoff := minResubscribe
	for {
		s, err := subscribe(writerPort())
		if err != nil {
			return err
		}
		began := time.Now()
		routesOnly := watch(ctx, s, links, changed, routeGone)
		s.stop()
		if ctx.Err() != nil {
			return nil
		}
		if !routesOnly {
			changed()
		}
		if time.Since(began) > 10*maxResubscribe {
			backoff = minResubscribe
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxResubscribe)
	}
}

// Waits between re-subscriptions, so that a subscription that keeps breaking
// does not spin.
const (
	minResubscribe = 100 * time.Millisecond
	maxResubscribe = 5 * time.Second
)

// linkState is what of a link decides whether routes can go via it. Its
// carrier is not: the kernel keeps routes via a link that lost it (and the
// pod bridge gains and loses its carrier with its first and last pod).
type linkState struct{ up, enslaved bool }

// carries tells whether routes can go via the link: it is up and not a port
// of another link (a bridge's or a bond's), whose own state is what counts.
func (s linkState) carries() bool { return s.up && !s.enslaved }

type subscription struct {
	done   chan struct{}
	links  chan netlink.LinkUpdate
	addrs  chan netlink.AddrUpdate
	routes *routeDeletions
}

// subscribe opens the three sockets in the calling thread's namespace.
func subscribe(writerPort uint32) (*subscription, error) {
	s := &subscription{
		done:  make(chan struct{}),
		links: make(chan netlink.LinkUpdate, 64),
		addrs: make(chan netlink.AddrUpdate, 64),
	}
	// Listing the existing links first teaches linkChanged their state, so
	// that their first later message is not taken for a new link.
	opts := netlink.LinkSubscribeOptions{ListExisting: true}
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, opts); err != nil {
		close(s.done)
		return nil, fmt.Errorf("subscribing to link events: %w", err)
	}
	if err := netlink.AddrSubscribe(s.addrs, s.done); err != nil {
		s.addrs = nil // never started: nobody will close it
		s.stop()
		return nil, fmt.Errorf("subscribing to address events: %w", err)
	}
	routes, err := subscribeRouteDeletions(writerPort)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.routes = routes
	return s, nil
}

// watch forwards events to changed until ctx ends or a subscription breaks;
// routesOnly tells that the route subscription was the one that broke.
func watch(ctx context.Context, s *subscription, links map[int]linkState, changed func(), routeGone func(netip.Prefix)) (routesOnly bool) {
	for {
		select {
		case <-ctx.Done():
			return false
		case u, ok := <-s.links:
			if !ok {
				return false
			}
			if linkChanged(links, u) {
				changed()
			}
		case u, ok := <-s.addrs:
			if !ok {
				return false
			}
			if addrChanged(u) {
				changed()
			}
		case p, ok := <-s.routes.out:
			if !ok {
				return true
			}
			routeGone(p)
		}
	}
}

// linkChanged records the link's state and tells whether routes can now go
// via it where they could not, or the other way round: a link came up or
// went down, or was made or stopped being another link's port. Other link
// messages (statistics, a link created down) do not concern routes, and
// neither does anything that happens to a bridge's ports: a pod's veth comes
// and goes with the pod, and each one used to cost a full route pass.
func linkChanged(links map[int]linkState, u netlink.LinkUpdate) bool {
	idx := int(u.Index)
	old, known := links[idx]
	st := linkState{up: u.Flags&unix.IFF_UP != 0, enslaved: u.Attrs().MasterIndex != 0}
	if u.Header.Type == unix.RTM_DELLINK {
		// The kernel may report a deletion twice, the second time without
		// the link's master: what the message says counts when the link is
		// no longer known.
		delete(links, idx)
		return (known && old.carries()) || (!known && st.carries())
	}
	links[idx] = st
	if !known {
		return st.carries()
	}
	return old != st && (old.carries() || st.carries())
}

// addrChanged tells whether an address change concerns routes: any but an
// IPv6 link-local address's. The agent's next hops are node and router
// addresses, never link-local ones (every link has fe80::/64, so no
// link-local next hop resolves to one link anyway), and every pod's veth
// gets a link-local address of its own when it comes up.
func addrChanged(u netlink.AddrUpdate) bool {
	a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	return !ok || !(a.Is6() && a.IsLinkLocalUnicast())
}

// drainTimeout bounds how long stop waits for netlink's reader goroutines to
// finish once their sockets are closed.
const drainTimeout = 5 * time.Second

// stop closes the sockets and drains the channels until netlink closes them,
// so that its reader goroutines, which may be blocked sending to us, exit.
func (s *subscription) stop() {
	close(s.done)
	var routes chan netip.Prefix
	if s.routes != nil {
		s.routes.close()
		routes = s.routes.out
	}
	deadline := time.After(drainTimeout)
	links, addrs := s.links, s.addrs
	for links != nil || addrs != nil || routes != nil {
		select {
		case _, ok := <-links:
			if !ok {
				links = nil
			}
		case _, ok := <-addrs:
			if !ok {
				addrs = nil
			}
		case _, ok := <-routes:
			if !ok {
				routes = nil
			}
		case <-deadline:
			return
		}
	}
}
