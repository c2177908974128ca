package main

import (
	"slices"
	"testing"
)

func TestParseAnchorsAcceptsKnownNamesInOrderAndNone(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "bird,frr,gobgpd", want: []string{"bird", "frr", "gobgpd"}},
		{in: "gobgpd, bird", want: []string{"gobgpd", "bird"}},
		{in: "none", want: nil},
		{in: "", want: nil},
		{in: "bird,quagga", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseAnchors(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseAnchors(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseMiBReadsKubernetesMemorySizes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "256Mi", want: 256 << 20},
		{in: "1Gi", want: 1 << 30},
		{in: "1000000", want: 1000000},
		{in: "0Mi", wantErr: true},
		{in: "256M", wantErr: true},
		{in: "-5Mi", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseMiB(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
