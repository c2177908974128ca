package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseAnchorsAcceptsKnownNamesInOrderAndNone(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "bird,frr,gobgpd,gobgpd-patched", want: []string{"bird", "frr", "gobgpd", "gobgpd-patched"}},
		{in: "gobgpd, bird", want: []string{"gobgpd", "bird"}},
		{in: "gobgpd-patched,gobgpd", want: []string{"gobgpd-patched", "gobgpd"}},
		{in: "gobgp-patched", wantErr: true},
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

func TestCheckChurnRefusesRunsThatCannotMeasure(t *testing.T) {
	ok := options{routes: 100000, churn: 30 * time.Minute, churnFraction: 0.1, churnInterval: 10 * time.Second}
	tests := []struct {
		name    string
		change  func(*options)
		wantErr string
	}{
		{name: "the issue's run", change: func(*options) {}},
		{name: "no churn needs no churn flags", change: func(o *options) { o.churn, o.churnFraction, o.churnInterval = 0, 0, 0 }},
		{name: "negative duration", change: func(o *options) { o.churn = -time.Minute }, wantErr: "-churn -1m0s"},
		{name: "fraction of nothing", change: func(o *options) { o.churnFraction = 0 }, wantErr: "-churn-fraction"},
		{name: "fraction above the table", change: func(o *options) { o.churnFraction = 2 }, wantErr: "-churn-fraction"},
		{name: "zero interval", change: func(o *options) { o.churnInterval = 0 }, wantErr: "3 intervals"},
		{name: "two intervals are too few", change: func(o *options) { o.churn = 20 * time.Second }, wantErr: "3 intervals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			err := checkChurn(o)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkChurn = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
