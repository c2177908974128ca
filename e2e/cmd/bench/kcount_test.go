package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// testNetns carries the benchmark's prefix: it is this package's own.
const testNetns = "test-bench-kcount"

func TestRouteCounterCountsOnlyMainTableProtocol78RoutesInsideTheRange(t *testing.T) {
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
	defer c.Close()
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
