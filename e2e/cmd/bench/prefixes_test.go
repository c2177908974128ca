package main

import "testing"

func TestBenchPrefixes(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		first, last string
		wantErr     bool
	}{
		{name: "one route is the start of the range", n: 1, first: "172.16.0.0/32", last: "172.16.0.0/32"},
		{name: "routes count up across octets", n: 300, first: "172.16.0.0/32", last: "172.16.1.43/32"},
		{name: "the whole range fits", n: maxRoutes, first: "172.16.0.0/32", last: "172.31.255.255/32"},
		{name: "zero routes is refused", n: 0, wantErr: true},
		{name: "more routes than the range holds is refused", n: maxRoutes + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := benchPrefixes(tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if len(got) != tt.n || got[0].String() != tt.first || got[len(got)-1].String() != tt.last {
				t.Errorf("got %d prefixes %s..%s, want %d %s..%s", len(got), got[0], got[len(got)-1], tt.n, tt.first, tt.last)
			}
			seen := make(map[string]bool, len(got))
			for _, p := range got {
				if seen[p.String()] || !injectedRange.Contains(p.Addr()) {
					t.Fatalf("prefix %s repeated or outside %s", p, injectedRange)
				}
				seen[p.String()] = true
			}
		})
	}
}
