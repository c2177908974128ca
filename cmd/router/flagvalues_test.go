package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestRunFlagsRejectBadValuesNamingTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-cidr", "10.0.0.0/33"}, `"--cluster-cidr"`},
		{[]string{"--cluster-cidr", "10.244.1.1/16"}, "host bits set"},
		{[]string{"--router-id", "not-an-ip"}, `"--router-id"`},
		{[]string{"--cluster-asn", "0"}, `"--cluster-asn"`},
		{[]string{"--cluster-asn", "4294967296"}, `"--cluster-asn"`},
		{[]string{"--routes-sync-period", "-5s"}, `"--routes-sync-period"`},
		{[]string{"--bgp-restart-time", "soon"}, `"--bgp-restart-time"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newRunCommand()
			err := cmd.ParseFlags(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseFlags(%v) = %v, want an error containing %s", tt.args, err, tt.want)
			}
		})
	}
}

func TestClusterCIDRTakesADualStackList(t *testing.T) {
	var got []netip.Prefix
	if err := (prefixesValue{&got}).Set("10.244.0.0/16, fd00:10:244::/56"); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNodeNameFallsBackToNodeNameEnv(t *testing.T) {
	t.Setenv("NODE_NAME", "from-env")
	f := defaultRunFlags()
	if err := newRunCommandFor(f).ParseFlags([]string{"--cluster-cidr", "10.244.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.toConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "from-env" {
		t.Fatalf("NodeName = %q, want from-env", cfg.NodeName)
	}
}

func TestUpstreamPeerFlagsAreParsedTogetherAndErrorsNameFlagAndIndex(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" = valid
	}{
		{[]string{"--peer-router-ips", "10.199.1.254,10.199.2.254", "--peer-router-asns", "65000"}, ""},
		{[]string{"--peer-router-ips", "10.199.1.254", "--peer-router-asns", "x"}, `--peer-router-asns[0]: "x" is not a valid ASN`},
		{[]string{"--peer-router-asns", "65000"}, "--peer-router-asns: set without --peer-router-ips"},
		{[]string{"--peer-router-ips", "10.199.1.254", "--peer-router-asns", "65000", "--peer-router-password-secret", "no-slash"}, "--peer-router-password-secret"},
		{[]string{"--mesh-password-secret", "kube-system"}, "--mesh-password-secret"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := defaultRunFlags()
			args := append([]string{"--cluster-cidr", "10.244.0.0/16", "--hostname-override", "n1"}, tt.args...)
			if err := newRunCommandFor(f).ParseFlags(args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.toConfig()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("toConfig() = %v, want nil", err)
			case tt.want == "" && len(cfg.GlobalPeers) != 2:
				t.Fatalf("GlobalPeers = %v, want 2 peers", cfg.GlobalPeers)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("toConfig() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
