package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
)

// A node peer's BGP session that GoBGP ends while BFD is Up is handed to
// the speaker to redial, once; one that ends while BFD is Down waits for
// Up (and no longer than redialWindow); a held peer is left to its hold.
// The routes GoBGP keeps as stale may go only when BFD failed just before.
func TestASessionEndedWhileBFDIsUpIsRedialedOnce(t *testing.T) {
	ta, n2, event := newBFDTestAgent(t)
	ctx := context.Background()
	poked := func() bool {
		select {
		case <-ta.agent.bfdChanged:
			return true
		default:
			return false
		}
	}
	// pass runs the BGP-only pass a poke asks for, and says what it
	// asked the speaker to redial.
	pass := func() string {
		t.Helper()
		if err := ta.agent.bfdPass(ctx); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(ta.speaker.desired.Redial)
	}
	// A peer whose BFD never said a word has nothing to redial for.
	ta.agent.onSessionDown(n2)
	if poked() || pass() != "map[]" {
		t.Fatal("a session end without BFD asked for a redial")
	}
	event(bfd.Down, bfd.Init, bfd.Down)
	event(bfd.Init, bfd.Up, bfd.Up)
	poked()

	steps := []struct {
		name string
		do   func()
		poke bool
		want string
	}{
		{"the session ends while BFD is Up", func() { ta.agent.onSessionDown(n2) }, true, "map[10.199.1.12:false]"},
		{"the next pass redials nothing", func() {}, false, "map[]"},
		{"a failure seconds before the next end is not its cause (planned restart after a flap)", func() {
			event(bfd.Up, bfd.Down, bfd.Down)
			event(bfd.Down, bfd.Up, bfd.Up)
			ta.agent.bfdPass(ctx)
			poked()
			ta.clock = ta.clock.Add(failureNearEnd + time.Second)
			ta.agent.onSessionDown(n2)
		}, true, "map[10.199.1.12:false]"},
		{"BFD notices the failure only after the session ended", func() {
			event(bfd.Up, bfd.Down, bfd.Down)
			event(bfd.Down, bfd.Up, bfd.Up)
		}, true, "map[10.199.1.12:true]"},
		{"and asks no more", func() {}, false, "map[]"},
		{"BFD fails", func() { event(bfd.Up, bfd.Down, bfd.Down) }, true, "map[]"},
		{"our own hold ends the session", func() { ta.agent.onSessionDown(n2) }, true, "map[]"},
		{"BFD Up lifts the hold, which re-creates the neighbor itself", func() { event(bfd.Down, bfd.Up, bfd.Init) }, true, "map[]"},
		{"the peer's Hard Reset arrives after BFD recovered: stale routes may go", func() { ta.agent.onSessionDown(n2) }, true, "map[10.199.1.12:true]"},
		{"later, the peer stops BFD (planned restart)", func() {
			ta.clock = ta.clock.Add(redialWindow)
			event(bfd.Up, bfd.Down, bfd.AdminDown)
		}, false, "map[]"},
		{"a session end while BFD is Down waits", func() { ta.agent.onSessionDown(n2) }, true, "map[]"},
		{"for BFD Up; the failure was long before the end", func() {
			ta.clock = ta.clock.Add(redialWindow - time.Second)
			event(bfd.Down, bfd.Up, bfd.Up)
		}, true, "map[10.199.1.12:false]"},
		{"BFD down again (AdminDown), a session end", func() {
			event(bfd.Up, bfd.Down, bfd.AdminDown)
			ta.agent.onSessionDown(n2)
		}, true, "map[]"},
		{"waits no longer than redialWindow", func() {
			ta.clock = ta.clock.Add(redialWindow + time.Second)
			event(bfd.Down, bfd.Up, bfd.Up)
		}, false, "map[]"},
	}
	for _, s := range steps {
		s.do()
		if got := poked(); got != s.poke {
			t.Fatalf("%s: poked %t, want %t", s.name, got, s.poke)
		}
		if got := pass(); got != s.want {
			t.Fatalf("%s: redial %s, want %s", s.name, got, s.want)
		}
	}
}
