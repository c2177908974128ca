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
