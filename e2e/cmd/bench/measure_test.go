package main

import (
	"testing"
	"time"
)

func TestPollStepScalesWithRoutesWithinBounds(t *testing.T) {
	tests := []struct {
		routes int
		want   time.Duration
	}{
		{routes: 10, want: 2 * time.Millisecond},
		{routes: 1000, want: 2 * time.Millisecond},
		{routes: 5000, want: 10 * time.Millisecond},
		{routes: 10000, want: 20 * time.Millisecond},
		{routes: 100000, want: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := pollStep(tt.routes); got != tt.want {
			t.Errorf("pollStep(%d) = %s, want %s", tt.routes, got, tt.want)
		}
	}
}

func TestParseCPUSecondsCountsUserAndSystemTime(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250 and stime 50 ticks.
	stat := "4242 (router run (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseCPUSeconds(stat)
	if err != nil || got != 3.0 {
		t.Fatalf("parseCPUSeconds = %v, %v; want 3 s (300 ticks)", got, err)
	}
	if _, err := parseCPUSeconds("4242 (router) S 1"); err == nil {
		t.Fatal("a short stat line was read")
	}
}
