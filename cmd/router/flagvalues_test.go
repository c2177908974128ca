package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
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

func TestBFDAndMeshTimerFlags(t *testing.T) {
	f := defaultRunFlags()
	args := []string{"--cluster-cidr", "10.244.0.0/16", "--hostname-override", "n1",
		"--bfd", "--bfd-min-tx", "100ms", "--bfd-multiplier", "5",
		"--peer-router-ips", "10.199.1.254,10.199.2.254", "--peer-router-asns", "65000", "--peer-router-bfd", "true,false",
		"--mesh-hold-time", "9s", "--mesh-keepalive-time", "3s"}
	if err := newRunCommandFor(f).ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.toConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.BFD || cfg.BFDTimers.MinTx != 100*time.Millisecond || cfg.BFDTimers.MinRx != 300*time.Millisecond || cfg.BFDTimers.Multiplier != 5 {
		t.Errorf("BFD %v %+v", cfg.BFD, cfg.BFDTimers)
	}
	if !cfg.GlobalPeers[0].BFD.Enabled || cfg.GlobalPeers[1].BFD.Enabled {
		t.Errorf("--peer-router-bfd: %+v", cfg.GlobalPeers)
	}
	if cfg.MeshHoldTime != 9*time.Second || cfg.MeshKeepaliveTime != 3*time.Second {
		t.Errorf("mesh timers %s %s", cfg.MeshHoldTime, cfg.MeshKeepaliveTime)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--bfd-min-tx", "20ms"}, "--bfd-min-tx: 20ms is not a whole number of milliseconds in 50ms..1m0s"},
		{[]string{"--bfd-multiplier", "1"}, "--bfd-multiplier: 1 is outside 2..255"},
		{[]string{"--bfd-multiplier", "300"}, "--bfd-multiplier: 300 is outside 2..255"},
		{[]string{"--mesh-hold-time", "2s"}, "--mesh-hold-time: 2s is not 0 or 3s..65535s"},
		{[]string{"--peer-router-bfd", "true"}, "--peer-router-bfd: set without --peer-router-ips"},
	} {
		f := defaultRunFlags()
		if err := newRunCommandFor(f).ParseFlags(append([]string{"--cluster-cidr", "10.244.0.0/16", "--hostname-override", "n1"}, bad.args...)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.toConfig(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want %q", bad.args, err, bad.want)
		}
	}
}
