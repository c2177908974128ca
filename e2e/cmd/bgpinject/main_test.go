package main

import (
	"fmt"
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
		{name: "a line may name its own next hop", file: "10.128.0.0/24 10.210.1.1\n10.128.1.0/24\n", want: []string{"10.128.0.0/24 via 10.210.1.1", "10.128.1.0/24"}},
		{name: "a bad next hop is named by file line", file: "10.128.0.0/24 10.210.1\n", wantErr: ":1: next hop"},
		{name: "more than a prefix and a next hop is refused", file: "10.128.0.0/24 10.210.1.1 x\n", wantErr: ":1: 3 fields"},
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
				s := got[i].prefix.String()
				if got[i].nextHop.IsValid() {
					s += " via " + got[i].nextHop.String()
				}
				if s != tt.want[i] {
					t.Errorf("[%d] = %s, want %s", i, s, tt.want[i])
				}
			}
		})
	}
}

func TestBuildPathsCarriesPrefixAndNextHopAndRefusesIPv6(t *testing.T) {
	nh := netip.MustParseAddr("10.199.1.100")
	paths, err := buildPaths([]route{
		{prefix: netip.MustParsePrefix("172.16.0.5/32")},
		{prefix: netip.MustParsePrefix("10.128.0.0/24"), nextHop: netip.MustParseAddr("10.210.1.1")},
	}, nh)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("paths = %v, want two", paths)
	}
	for i, want := range []string{"172.16.0.5/32 via 10.199.1.100", "10.128.0.0/24 via 10.210.1.1"} {
		if len(paths[i].GetPattrs()) != 2 {
			t.Fatalf("path %d = %v, want origin and next hop", i, paths[i])
		}
		var nlri api.IPAddressPrefix
		var next api.NextHopAttribute
		if err := paths[i].GetNlri().UnmarshalTo(&nlri); err != nil {
			t.Fatal(err)
		}
		if err := paths[i].GetPattrs()[1].UnmarshalTo(&next); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s/%d via %s", nlri.Prefix, nlri.PrefixLen, next.NextHop); got != want {
			t.Errorf("path %d = %s, want %s", i, got, want)
		}
	}
	if _, err := buildPaths([]route{{prefix: netip.MustParsePrefix("2001:db8::/64")}}, nh); err == nil {
		t.Error("an IPv6 prefix was accepted")
	}
}
