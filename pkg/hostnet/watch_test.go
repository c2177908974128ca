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
	"github.com/nodebgp/router/pkg/routes"
)

// watchInNS runs WatchLinks inside the namespace and returns its pokes. It
// waits until the subscription is live, found by adding an address until a
// poke comes, and until the pokes that caused have stopped. While the test
// holds gate, changed blocks, as a slow caller would.
func watchInNS(t *testing.T, ns netnstest.NS, gate *sync.Mutex) <-chan struct{} {
	t.Helper()
	pokes, _ := watchRoutesInNS(t, ns, gate, func() uint32 { return 0 })
	return pokes
}

// watchRoutesInNS is watchInNS that also returns the deleted routes of ours
// WatchLinks reports, with writerPort as the agent's route writer.
func watchRoutesInNS(t *testing.T, ns netnstest.NS, gate *sync.Mutex, writerPort func() uint32) (<-chan struct{}, <-chan netip.Prefix) {
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
		}, writerPort)
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
	pokes, gone := watchRoutesInNS(t, ns, new(sync.Mutex), func() uint32 { return 0 })

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

// A pod's veth joins the pod bridge when the pod starts and goes when it
// ends: nothing a route can go via changes (the bridge's own state does not),
// so no full route pass, however many pods come and go.
func TestWatchLinksIgnoresAPodsVethOnTheBridge(t *testing.T) {
	ns := newNS(t).WithNode(t)
	pod := newNS(t)
	ns.IP(t, "link", "add", "podbr0", "type", "bridge")
	ns.IP(t, "addr", "add", "10.244.9.1/24", "dev", "podbr0")
	ns.IP(t, "link", "set", "podbr0", "up")
	pokes := watchInNS(t, ns, new(sync.Mutex))

	// What the bridge CNI plugin does: the pair made in the pod, its host
	// end moved out, enslaved, up (and IPv6 gives it a link-local address).
	pod.IP(t, "link", "add", "eth0", "type", "veth", "peer", "name", "vethpod1")
	pod.IP(t, "link", "set", "vethpod1", "netns", ns.Name)
	pod.IP(t, "link", "set", "eth0", "up")
	ns.IP(t, "link", "set", "vethpod1", "master", "podbr0")
	ns.IP(t, "link", "set", "vethpod1", "up")
	ns.IP(t, "addr", "add", "fe80::99/64", "dev", "vethpod1")
	ns.IP(t, "link", "set", "vethpod1", "down")
	ns.IP(t, "link", "del", "vethpod1")
	select {
	case <-pokes:
		t.Error("WatchLinks called changed for a pod's veth coming and going on the bridge")
	case <-time.After(500 * time.Millisecond):
	}

	ns.IP(t, "link", "set", "podbr0", "down")
	wantPoke(t, pokes, "the bridge itself going down")
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

// deletionBurst adds n routes of ours and returns an `ip -batch` file that
// deletes them all: n notifications the route subscription passes on (the
// additions' never leave the kernel).
func deletionBurst(t *testing.T, ns netnstest.NS, n int) string {
	t.Helper()
	var add, del []byte
	for i := range n {
		add = fmt.Appendf(add, "route add 10.%d.%d.0/24 via 10.250.0.2 proto 78\n", 100+i/256, i%256)
		del = fmt.Appendf(del, "route del 10.%d.%d.0/24 via 10.250.0.2 proto 78\n", 100+i/256, i%256)
	}
	dir := t.TempDir()
	adds, dels := filepath.Join(dir, "add"), filepath.Join(dir, "del")
	for f, b := range map[string][]byte{adds: add, dels: del} {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ns.IP(t, "-batch", adds)
	return dels
}

// TestWatchLinksResubscribesAfterAnOverflow blocks the caller while a burst of
// route deletions overflows the route subscription's socket: the
// subscription ends, and WatchLinks must subscribe again to see later events.
func TestWatchLinksResubscribesAfterAnOverflow(t *testing.T) {
	ns := newNS(t).WithNode(t)
	gate := new(sync.Mutex)
	pokes := watchInNS(t, ns, gate)

	file := deletionBurst(t, ns, 5000)
	gate.Lock()
	ns.IP(t, "link", "set", "veth1", "down") // the watcher now blocks in changed
	ns.IP(t, "-batch", file)
	gate.Unlock()
	wantPoke(t, pokes, "a link going down during a burst")

	ns.IP(t, "link", "set", "veth1", "up")
	wantPoke(t, pokes, "a link coming up after the burst")
}

// TestAnOverflowOfTheRouteSubscriptionAloneCallsNothing: a big table deleted
// at once (by hand, or by the agent before its writer's port is known)
// overflows the route subscription; that alone must not ask for a full route
// pass each time (the periodic one covers what it lost).
func TestAnOverflowOfTheRouteSubscriptionAloneCallsNothing(t *testing.T) {
	ns := newNS(t).WithNode(t)
	gate := new(sync.Mutex)
	pokes := watchInNS(t, ns, gate)

	file := deletionBurst(t, ns, 5000)
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

// The agent's own writes never reach the watch: neither its additions nor,
// once its writer's port is known, its deletions; a hand's deletion of a
// route of ours still does. The writer is the real one, a routes.Reconciler
// in the namespace.
func TestWatchLinksLeavesOutTheAgentsOwnWrites(t *testing.T) {
	ns := newNS(t).WithNode(t)
	rec := routes.NewReconciler(routes.ReconcilerParams{})
	gw := netip.MustParseAddr("10.250.0.2")
	ours := []routes.Route{
		{Prefix: netip.MustParsePrefix("10.251.4.0/24"), Gateway: gw},
		{Prefix: netip.MustParsePrefix("10.251.5.0/24"), Gateway: gw},
	}
	syncTo := func(want []routes.Route) {
		t.Helper()
		ns.Do(t, func() {
			if _, err := rec.Sync(context.Background(), want, true); err != nil {
				t.Errorf("Sync: %v", err)
			}
		})
	}
	syncTo(ours) // opens the writer, so that its port is known
	if rec.WriterPort() == 0 {
		t.Fatal("the reconciler's writer has no port after a Sync")
	}
	_, gone := watchRoutesInNS(t, ns, new(sync.Mutex), rec.WriterPort)

	syncTo(ours[:1]) // the agent deletes 10.251.5.0/24
	ns.IP(t, "route", "add", "10.251.6.0/24", "via", "10.250.0.2", "proto", "78")
	syncTo(nil) // and deletes 10.251.4.0/24 and the hand's 10.251.6.0/24 (stale)
	ns.IP(t, "route", "add", "10.251.7.0/24", "via", "10.250.0.2", "proto", "78")
	ns.IP(t, "route", "del", "10.251.7.0/24")
	select {
	case p := <-gone:
		if want := netip.MustParsePrefix("10.251.7.0/24"); p != want {
			t.Errorf("WatchLinks reported %s deleted, want only the hand's deletion of %s", p, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchLinks did not report a route of ours deleted by hand within 5s")
	}
	select {
	case p := <-gone:
		t.Errorf("WatchLinks reported %s deleted as well", p)
	case <-time.After(300 * time.Millisecond):
	}
}
