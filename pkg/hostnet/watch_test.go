package hostnet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// watchInNS runs WatchLinks inside the namespace and returns its pokes. It
// waits until the subscription is live, found by adding an address until a
// poke comes, and until the pokes that caused have stopped. While the test
// holds gate, changed blocks, as a slow caller would.
func watchInNS(t *testing.T, ns netnstest.NS, gate *sync.Mutex) <-chan struct{} {
	t.Helper()
	pokes, _ := watchRoutesInNS(t, ns, gate)
	return pokes
}

// watchRoutesInNS is watchInNS that also returns the deleted routes of ours
// WatchLinks reports.
func watchRoutesInNS(t *testing.T, ns netnstest.NS, gate *sync.Mutex) (<-chan struct{}, <-chan netip.Prefix) {
	t.Helper()
	gone := make(chan netip.Prefix, 16)
	ctx, cancel := context.WithCancel(context.Background())
	pokes := make(chan struct{}, 1)
	returned := make(chan error, 1)
	go func() {
		// As in netnstest.NS.Do: the locked thread dies with this goroutine.
		runtime.LockOSThread()
		if err := netns.Set(ns.Handle); err != nil {
			returned <- err
			return
		}
		returned <- new(Host).WatchLinks(ctx, func() {
			gate.Lock()
			gate.Unlock()
			select {
			case pokes <- struct{}{}:
			default:
			}
		}, func(p netip.Prefix) {
			select {
			case gone <- p:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-returned:
			if err != nil {
				t.Errorf("WatchLinks returned %v after its context ended, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("WatchLinks did not return within 5s of its context ending")
		}
	})

	live := false
	for i := 0; i < 50 && !live; i++ {
		ns.IP(t, "addr", "add", "10.252.0.1/32", "dev", "veth1")
		ns.IP(t, "addr", "del", "10.252.0.1/32", "dev", "veth1")
		select {
		case <-pokes:
			live = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !live {
		t.Fatal("WatchLinks never reported an address change within 5s")
	}
	quiet(pokes)
	return pokes, gone
}

// quiet drains pokes until none came for 300ms (at most 5s).
func quiet(pokes <-chan struct{}) {
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-pokes:
		case <-time.After(300 * time.Millisecond):
			return
		case <-deadline:
			return
		}
	}
}

func wantPoke(t *testing.T, pokes <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-pokes:
	case <-time.After(5 * time.Second):
		t.Errorf("WatchLinks did not call changed within 5s of %s", after)
	}
	quiet(pokes)
}

func TestWatchLinksReportsWhatCanChangeRoutes(t *testing.T) {
	ns := newNS(t).WithNode(t)
	pokes := watchInNS(t, ns, new(sync.Mutex))

	// veth1 has no addresses: only its link events can tell.
	ns.IP(t, "link", "set", "veth1", "down")
	wantPoke(t, pokes, "a link going down")

	ns.IP(t, "link", "set", "veth1", "up")
	wantPoke(t, pokes, "a link coming up")

	ns.IP(t, "addr", "add", "10.250.1.1/24", "dev", "veth0")
	wantPoke(t, pokes, "an address added")

}

func TestWatchLinksReportsADeletedRouteOfOursByItsDestination(t *testing.T) {
	ns := newNS(t).WithNode(t)
	pokes, gone := watchRoutesInNS(t, ns, new(sync.Mutex))

	ns.IP(t, "route", "add", "10.251.1.0/24", "via", "10.250.0.2", "proto", "78")
	ns.IP(t, "route", "add", "10.251.3.0/24", "via", "10.250.0.2", "proto", "static")
	ns.IP(t, "route", "del", "10.251.3.0/24")
	ns.IP(t, "route", "del", "10.251.1.0/24")
	select {
	case p := <-gone:
		if want := netip.MustParsePrefix("10.251.1.0/24"); p != want {
			t.Errorf("WatchLinks reported %s deleted, want %s (a foreign route's deletion is not ours)", p, want)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("WatchLinks did not report a route of ours deleted within 5s")
	}
	select {
	case <-pokes:
		t.Errorf("WatchLinks called changed for a deleted route: only the agent can tell whether it deleted it itself")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWatchLinksIgnoresOtherRoutesAndIdleLinks(t *testing.T) {
	ns := newNS(t).WithNode(t)
	pokes := watchInNS(t, ns, new(sync.Mutex))

	ns.IP(t, "route", "add", "10.251.2.0/24", "via", "10.250.0.2", "proto", "static")
	ns.IP(t, "route", "del", "10.251.2.0/24")
	ns.IP(t, "link", "set", "veth0", "alias", "uplink") // a link message without a state change
	select {
	case <-pokes:
		t.Error("WatchLinks called changed for a foreign route or a link that did not go up or down")
	case <-time.After(500 * time.Millisecond):
	}
}

// TestWatchLinksResubscribesAfterAnOverflow blocks the caller while a burst of
// route events overflows the route subscription's socket: netlink closes the
// subscription, and WatchLinks must subscribe again to see later events.
func TestWatchLinksResubscribesAfterAnOverflow(t *testing.T) {
	ns := newNS(t).WithNode(t)
	gate := new(sync.Mutex)
	pokes := watchInNS(t, ns, gate)

	var batch []byte
	for i := range 5000 {
		batch = fmt.Appendf(batch, "route add 10.%d.%d.0/24 via 10.250.0.2 proto 78\n", 100+i/256, i%256)
	}
	file := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(file, batch, 0o644); err != nil {
		t.Fatal(err)
	}
	gate.Lock()
	ns.IP(t, "link", "set", "veth1", "down") // the watcher now blocks in changed
	ns.IP(t, "-batch", file)
	gate.Unlock()
	wantPoke(t, pokes, "a link going down during a burst")

	ns.IP(t, "link", "set", "veth1", "up")
	wantPoke(t, pokes, "a link coming up after the burst")
}

// TestAnOverflowOfTheRouteSubscriptionAloneCallsNothing: the agent's own
// writes of a big table overflow the route subscription; that alone must not
// ask for a full route pass each time (the periodic one covers what it lost).
func TestAnOverflowOfTheRouteSubscriptionAloneCallsNothing(t *testing.T) {
	ns := newNS(t).WithNode(t)
	gate := new(sync.Mutex)
	pokes := watchInNS(t, ns, gate)

	var batch []byte
	for i := range 5000 {
		batch = fmt.Appendf(batch, "route add 10.%d.%d.0/24 via 10.250.0.2 proto 78\n", 100+i/256, i%256)
	}
	file := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(file, batch, 0o644); err != nil {
		t.Fatal(err)
	}
	// IPv6 duplicate address detection ends with address events of its own.
	for deadline := time.Now().Add(10 * time.Second); strings.TrimSpace(ns.IP(t, "-6", "addr", "show", "tentative")) != ""; {
		if time.Now().After(deadline) {
			t.Fatal("IPv6 addresses still tentative after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	quiet(pokes)
	gate.Lock()
	ns.IP(t, "addr", "add", "127.0.0.2/8", "dev", "lo") // the watcher now blocks in changed
	ns.IP(t, "-batch", file)
	gate.Unlock()
	n := 0
	for done := time.After(2 * time.Second); ; {
		select {
		case <-pokes:
			n++
			continue
		case <-done:
		}
		break
	}
	if n != 1 {
		t.Errorf("WatchLinks called changed %d times for one address and an overflowed route subscription; want 1", n)
	}
}
