package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
)

func TestReadPrefixes(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []string
		wantErr string
	}{
		{name: "one prefix a line, blank lines skipped, host bits masked", file: "172.16.0.1/32\n\n172.16.1.7/24\n", want: []string{"172.16.0.1/32", "172.16.1.0/24"}},
		{name: "a bad line is named by file line", file: "172.16.0.1/32\nnot-a-prefix\n", wantErr: ":2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "prefixes")
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readPrefixes(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Errorf("[%d] = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBuildPathsCarriesPrefixAndNextHopAndRefusesIPv6(t *testing.T) {
	nh := netip.MustParseAddr("10.199.1.100")
	paths, err := buildPaths([]netip.Prefix{netip.MustParsePrefix("172.16.0.5/32")}, nh)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || len(paths[0].GetPattrs()) != 2 {
		t.Fatalf("paths = %v, want one with origin and next hop", paths)
	}
	var nlri api.IPAddressPrefix
	var next api.NextHopAttribute
	if err := paths[0].GetNlri().UnmarshalTo(&nlri); err != nil {
		t.Fatal(err)
	}
	if err := paths[0].GetPattrs()[1].UnmarshalTo(&next); err != nil {
		t.Fatal(err)
	}
	if nlri.Prefix != "172.16.0.5" || nlri.PrefixLen != 32 || next.NextHop != "10.199.1.100" {
		t.Errorf("path = %s/%d via %s, want 172.16.0.5/32 via 10.199.1.100", nlri.Prefix, nlri.PrefixLen, next.NextHop)
	}
	if _, err := buildPaths([]netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}, nh); err == nil {
		t.Error("an IPv6 prefix was accepted")
	}
}
