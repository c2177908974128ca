package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCommandReadsWholeTableAndRangeCommands(t *testing.T) {
	tests := []struct {
		line    string
		want    command
		wantErr string
	}{
		{line: "", want: command{}},
		{line: "announce", want: command{verb: "announce"}},
		{line: "withdraw", want: command{verb: "withdraw"}},
		{line: "withdraw 90 20", want: command{verb: "withdraw", rng: &pathRange{from: 90, count: 20, total: 100}}},
		{line: "announce 0 100", want: command{verb: "announce", rng: &pathRange{from: 0, count: 100, total: 100}}},
		{line: "flap", wantErr: "unknown command"},
		{line: "withdraw 5", wantErr: "want withdraw or withdraw <from> <count>"},
		{line: "withdraw 100 1", wantErr: "from \"100\" must be an index 0..99"},
		{line: "withdraw -1 1", wantErr: "from \"-1\""},
		{line: "announce 0 0", wantErr: "count \"0\" must be 1..100"},
		{line: "announce 0 101", wantErr: "count \"101\""},
		{line: "announce x 1", wantErr: "from \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := parseCommand(tt.line, 100)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.verb != tt.want.verb || (got.rng == nil) != (tt.want.rng == nil) || (got.rng != nil && *got.rng != *tt.want.rng) {
				t.Errorf("parseCommand(%q) = %+v %+v, want %+v %+v", tt.line, got, got.rng, tt.want, tt.want.rng)
			}
		})
	}
}

func TestPickWrapsPastTheEnd(t *testing.T) {
	s := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	tests := []struct {
		name        string
		from, count int
		want        []int
	}{
		{name: "inside the list", from: 2, count: 3, want: []int{2, 3, 4}},
		{name: "up to the end", from: 7, count: 3, want: []int{7, 8, 9}},
		{name: "past the end wraps to the start", from: 8, count: 4, want: []int{8, 9, 0, 1}},
		{name: "the whole list from the middle", from: 5, count: 10, want: []int{5, 6, 7, 8, 9, 0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(pathRange{from: tt.from, count: tt.count, total: len(s)}, s); !slices.Equal(got, tt.want) {
				t.Errorf("pick(%d, %d) = %v, want %v", tt.from, tt.count, got, tt.want)
			}
		})
	}
}
