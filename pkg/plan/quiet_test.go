package plan

import "testing"

func TestATickIsQuietOnlyWhenNothingThePlanReadsChanged(t *testing.T) {
	steady := TickInputs{QuietTicks: 0, FullEvery: 10}
	tests := []struct {
		name   string
		mutate func(*TickInputs)
		want   bool
	}{
		{"nothing changed", func(*TickInputs) {}, true},
		{"a Node's routing facts changed", func(in *TickInputs) { in.NodeFactsChanged = true }, false},
		{"a password Secret changed", func(in *TickInputs) { in.SecretsChanged = true }, false},
		{"the link MTU changed", func(in *TickInputs) { in.LinkMTUChanged = true }, false},
		{"the last full pass failed a step", func(in *TickInputs) { in.LastPassFailed = true }, false},
		{"the 9th quiet tick in a row of 10", func(in *TickInputs) { in.QuietTicks = 8 }, true},
		{"the 10th tick is full: the safety net", func(in *TickInputs) { in.QuietTicks = 9 }, false},
		{"FullEvery 1: every tick is full", func(in *TickInputs) { in.FullEvery = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := steady
			tt.mutate(&in)
			if got := QuietTick(in); got != tt.want {
				t.Fatalf("QuietTick(%+v) = %v, want %v", in, got, tt.want)
			}
		})
	}
}
