package main

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"
)

// testNetns carries the benchmark's prefix: it is this package's own.
const testNetns = "test-bench-kcount"

func TestRouteCounterCountsOnlyMainTableProtocol78RoutesInsideTheRange(t *testing.T) {
	c := counterInTestNetns(t)
	for i := range 2 { // a second dump on the same socket must work as the first
		got, err := c.Count()
		if err != nil {
			t.Fatal(err)
		}
		if got != 3 {
			t.Errorf("count %d = %d, want 3", i+1, got)
		}
	}
}

func TestRouteCounterHoldsOnlyItsOwnRouteForExactlyThePrefix(t *testing.T) {
	c := counterInTestNetns(t)
	for _, tt := range []struct {
		prefix string
		want   bool
	}{
		{"172.16.0.1/32", true},
		{"172.31.255.255/32", true},
		{"172.20.1.0/24", true},
		{"172.20.1.5/32", false}, // only the /24 of ours holds it
		{"172.16.0.2/32", false}, // another protocol's
		{"172.16.0.3/32", false}, // in another table; the main table's 172.0.0.0/8 matches
		{"172.16.0.9/32", false}, // not there; the /8 matches
		{"192.0.2.1/32", false},  // no route at all: ENETUNREACH
	} {
		got, err := c.Holds(netip.MustParsePrefix(tt.prefix))
		if err != nil {
			t.Errorf("Holds(%s): %v", tt.prefix, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Holds(%s) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	// A lookup and a dump on the same socket, in turn.
	if n, err := c.Count(); err != nil || n != 3 {
		t.Errorf("count after the lookups = %d, %v; want 3", n, err)
	}
}

// counterInTestNetns makes testNetns with routes of every kind the counter
// must tell apart, and a counter in it; both go at the test's end.
func counterInTestNetns(t *testing.T) *routeCounter {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = deleteNetns(ctx, testNetns) // leftovers of a crashed run
	t.Cleanup(func() {
		if err := deleteNetns(context.Background(), testNetns); err != nil {
			t.Error(err)
		}
	})
	setup := [][]string{
		{"netns", "add", testNetns},
		{"-n", testNetns, "link", "add", "t0", "type", "veth", "peer", "name", "t1"},
		{"-n", testNetns, "addr", "add", "10.250.0.1/24", "dev", "t0"},
		{"-n", testNetns, "link", "set", "t1", "up"},
		{"-n", testNetns, "link", "set", "t0", "up"},
		// counted
		{"-n", testNetns, "route", "add", "172.16.0.1/32", "via", "10.250.0.2", "proto", "78"},
		{"-n", testNetns, "route", "add", "172.31.255.255/32", "via", "10.250.0.2", "proto", "78"},
		{"-n", testNetns, "route", "add", "172.20.1.0/24", "via", "10.250.0.2", "proto", "78"},
		// not counted: another protocol, outside the range, wider than the range, another table
		{"-n", testNetns, "route", "add", "172.16.0.2/32", "via", "10.250.0.2", "proto", "boot"},
		{"-n", testNetns, "route", "add", "10.244.1.0/24", "via", "10.250.0.2", "proto", "78"},
		{"-n", testNetns, "route", "add", "172.0.0.0/8", "via", "10.250.0.2", "proto", "78"},
		{"-n", testNetns, "route", "add", "172.16.0.3/32", "via", "10.250.0.2", "proto", "78", "table", "1000"},
	}
	if err := runSteps(ctx, setup); err != nil {
		t.Fatal(err)
	}
	c, err := newRouteCounter(testNetns, injectedRange, agentProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
