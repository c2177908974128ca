//go:build e2e

package lab

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRacksRouteThroughAnFRRToRThatSpeaksRealBGP brings up two racks behind
// two FRR ToRs (node1 and node3 in rack 1, node2 in rack 2) with today's
// agents: the iBGP mesh comes up across racks only because the ToR routes
// between them, and the ToR helpers read FRR's own JSON.
func TestRacksRouteThroughAnFRRToRThatSpeaksRealBGP(t *testing.T) {
	requireRoot(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FindTools(root); err != nil {
		t.Skipf("lab tools missing: %v", err)
	}
	if err := checkFRR(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir() + "/lab"
	cleanLab(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	l, err := Up(ctx, Options{Dir: dir, Nodes: 3, Racks: 2, ToRs: 2, ToRPasswords: map[int]string{2: "lab-s3cret"}, Logf: t.Logf})
	t.Cleanup(func() {
		if t.Failed() && l != nil {
			l.Dump(context.Background(), testWriter{t})
		}
	})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	node1, node2 := l.NodeByName(NodeName(1)), l.NodeByName(NodeName(2))
	tor1, tor2 := l.ToRByName(ToRName(1)), l.ToRByName(ToRName(2))
	if node2.Rack != 2 || node2.IP != netip.MustParseAddr("10.199.2.12") || tor1 == nil || tor2 == nil {
		t.Fatalf("node2 = rack %d %s, ToRs %v; want rack 2 10.199.2.12 and lab-tor1, lab-tor2", node2.Rack, node2.IP, l.ToRs)
	}

	t.Run("the ToR is a routed hop between racks", func(t *testing.T) {
		ping(ctx, t, node2.Netns, node1.IP.String())
		ping(ctx, t, node2.Netns, ControlPlaneAddr.String())
		ping(ctx, t, "", node2.IP.String())
		// With TTL 1 the ToR answers "time to live exceeded": it routed.
		out, _ := l.Net.Exec(ctx, node2.Netns, "ping", "-c", "1", "-W", "2", "-t", "1", node1.IP.String())
		if !strings.Contains(out, "From "+ToRAddr(1, 2).String()) {
			t.Errorf("ping -t 1 %s from %s: want an answer from the ToR %s, got:\n%s", node1.IP, node2.Name, ToRAddr(1, 2), out)
		}
		ping(ctx, t, tor2.Name, node2.IP.String())
	})

	t.Run("FRR runs and reports its neighbors", func(t *testing.T) {
		nbs, err := tor1.Neighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Only the explicit (password) neighbor: the agents do not peer
		// with the ToR yet, so no node connected through a listen range,
		// and the MD5-signed dials to node2 go unanswered.
		if len(nbs) != 1 || nbs[0].Address != node2.IP || nbs[0].Dynamic || nbs[0].Established() {
			t.Errorf("lab-tor1 neighbors = %+v, want only %s, configured and not established", nbs, node2.IP)
		}
		if nbs, err := tor2.Neighbors(ctx); err != nil || len(nbs) != 1 {
			t.Errorf("lab-tor2 neighbors = %+v, %v; want the password neighbor", nbs, err)
		}
	})

	prefix := netip.MustParsePrefix("10.244.250.0/25")
	t.Run("an announced prefix is in FRR's table and withdrawn again", func(t *testing.T) {
		if err := tor1.Announce(ctx, prefix, "65000:100"); err != nil {
			t.Fatal(err)
		}
		paths := waitToRPaths(ctx, t, l, tor1, prefix, true)
		if len(paths) != 1 || !paths[0].Local || !paths[0].Best || !slices.Equal(paths[0].Communities, []string{"65000:100"}) {
			t.Errorf("%s on lab-tor1 = %+v, want one local best path with community 65000:100", prefix, paths)
		}
		if out, err := ip(ctx, tor1.Name, "route", "show", "type", "blackhole", prefix.String()); err != nil || !strings.Contains(out, prefix.String()) {
			t.Errorf("lab-tor1 blackhole route for %s: %q, %v", prefix, out, err)
		}
		if err := tor1.Withdraw(ctx, prefix); err != nil {
			t.Fatal(err)
		}
		waitToRPaths(ctx, t, l, tor1, prefix, false)
		if err := tor1.Withdraw(ctx, prefix); err != nil {
			t.Errorf("withdrawing twice: %v", err)
		}
	})

	t.Run("a restarted bgpd comes back with its config", func(t *testing.T) {
		before, err := LoadProcess(dir, tor1.bgpdProcess())
		if err != nil {
			t.Fatal(err)
		}
		if err := tor1.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		after, err := LoadProcess(dir, tor1.bgpdProcess())
		if err != nil || after.PID == before.PID {
			t.Fatalf("bgpd after restart: %+v, %v; want a new pid (was %d)", after, err, before.PID)
		}
		if nbs, err := tor1.Neighbors(ctx); err != nil || len(nbs) != 1 || nbs[0].Address != node2.IP {
			t.Errorf("lab-tor1 neighbors after restart = %+v, %v; want %s", nbs, err, node2.IP)
		}
		ping(ctx, t, node2.Netns, node1.IP.String())
	})

	t.Run("a fresh process finds the racks in lab.json", func(t *testing.T) {
		loaded, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		n2 := loaded.NodeByName(node2.Name)
		if loaded.Opts.Racks != 2 || len(loaded.ToRs) != 2 || n2 == nil || n2.IP != node2.IP {
			t.Errorf("Load: racks %d, ToRs %d, node2 %+v; want 2, 2, %s", loaded.Opts.Racks, len(loaded.ToRs), n2, node2.IP)
		}
	})
}

// waitToRPaths waits until prefix has a best path in (or, with present
// false, is gone from) the ToR's BGP table, and returns its paths.
func waitToRPaths(ctx context.Context, t *testing.T, l *Lab, tor *ToR, prefix netip.Prefix, present bool) []ToRPath {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		table, err := tor.BGPTable(ctx)
		if err == nil && hasBest(table[prefix]) == present {
			return table[prefix]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s's BGP table: want present=%v within 15s; table %v, last error %v", prefix, tor.Name, present, table, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func hasBest(paths []ToRPath) bool {
	return slices.ContainsFunc(paths, func(p ToRPath) bool { return p.Best })
}
