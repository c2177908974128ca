package agent

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		NodeName:         "n1",
		ClusterASN:       64512,
		BGPPort:          179,
		GracefulRestart:  true,
		RestartTime:      120 * time.Second,
		DeferralTime:     30 * time.Second,
		CNIConfDir:       "/etc/cni/net.d",
		CNIBridge:        "nodebgp0",
		ClusterCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Masquerade:       true,
		RoutesSyncPeriod: 30 * time.Second,
	}
}

func TestValidateNamesTheFlagOfEveryBadSetting(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring; "" = valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"empty node name", func(c *Config) { c.NodeName = "" }, "--hostname-override"},
		{"AS_TRANS is not an ASN", func(c *Config) { c.ClusterASN = 23456 }, "--cluster-asn"},
		{"IPv6 router ID", func(c *Config) { c.RouterID = netip.MustParseAddr("fd00::1") }, "--router-id"},
		{"port 0", func(c *Config) { c.BGPPort = 0 }, "--bgp-port"},
		{"port above 65535", func(c *Config) { c.BGPPort = 70000 }, "--bgp-port"},
		{"restart time beyond the capability's 12 bits", func(c *Config) { c.RestartTime = 2 * time.Hour }, "--bgp-restart-time"},
		{"restart time ignored without graceful restart", func(c *Config) { c.GracefulRestart = false; c.RestartTime = 2 * time.Hour }, ""},
		{"deferral beyond ten minutes", func(c *Config) { c.DeferralTime = time.Hour }, "--bgp-deferral-time"},
		{"bridge name too long for the kernel", func(c *Config) { c.CNIBridge = "a-very-long-bridge" }, "--cni-bridge"},
		{"tiny MTU", func(c *Config) { c.MTU = 100 }, "--mtu"},
		{"masquerade without cluster CIDR", func(c *Config) { c.ClusterCIDRs = nil }, "--cluster-cidr"},
		{"no masquerade needs no cluster CIDR", func(c *Config) { c.ClusterCIDRs = nil; c.Masquerade = false }, ""},
		{"sub-second sync period", func(c *Config) { c.RoutesSyncPeriod = time.Millisecond }, "--routes-sync-period"},
		{"mesh hold time of 2s", func(c *Config) { c.MeshHoldTime = 2 * time.Second }, "--mesh-hold-time"},
		{"mesh keepalive above a third of the hold time", func(c *Config) { c.MeshHoldTime = 9 * time.Second; c.MeshKeepaliveTime = 4 * time.Second }, "--mesh-keepalive-time"},
		{"mesh timers of 3s and 1s", func(c *Config) { c.MeshHoldTime = 3 * time.Second; c.MeshKeepaliveTime = time.Second }, ""},
		{"BFD TX of 10ms", func(c *Config) { c.BFD = true; c.BFDTimers.MinTx = 10 * time.Millisecond }, "--bfd-min-tx"},
		{"BFD RX of a fraction of a millisecond", func(c *Config) { c.BFDTimers.MinRx = 300*time.Millisecond + time.Microsecond }, "--bfd-min-rx"},
		{"BFD multiplier 1", func(c *Config) { c.BFDTimers.Multiplier = 1 }, "--bfd-multiplier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
