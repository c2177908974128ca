package bgp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		ASN:             64512,
		RouterID:        netip.MustParseAddr("10.199.1.11"),
		ListenAddress:   netip.MustParseAddr("10.199.1.11"),
		APIAddress:      "127.0.0.1:50051",
		GracefulRestart: true,
	}
}

func TestConfigValidationNamesTheBadField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		field  string // "" = valid
	}{
		{"a complete config is valid", func(*Config) {}, ""},
		{"no listener needs no listen address", func(c *Config) { c.ListenPort = -1; c.ListenAddress = netip.Addr{} }, ""},
		{"zero ASN", func(c *Config) { c.ASN = 0 }, "ASN"},
		{"missing router ID", func(c *Config) { c.RouterID = netip.Addr{} }, "RouterID"},
		{"IPv6 router ID", func(c *Config) { c.RouterID = netip.MustParseAddr("fd00::1") }, "RouterID"},
		{"listening without a listen address", func(c *Config) { c.ListenAddress = netip.Addr{} }, "ListenAddress"},
		{"zoned listen address", func(c *Config) { c.ListenAddress = netip.MustParseAddr("fe80::1%eth0") }, "ListenAddress"},
		{"dual-stack listen addresses", func(c *Config) { c.ListenAddress6 = netip.MustParseAddr("fd00:199:1::11") }, ""},
		{"IPv4 as the IPv6 listen address", func(c *Config) { c.ListenAddress6 = netip.MustParseAddr("10.199.1.12") }, "ListenAddress6"},
		{"IPv6 listen address beside an IPv6 one", func(c *Config) {
			c.ListenAddress = netip.MustParseAddr("fd00:199:1::12")
			c.ListenAddress6 = netip.MustParseAddr("fd00:199:1::11")
		}, "ListenAddress6"},
		{"port out of range", func(c *Config) { c.ListenPort = 70000 }, "ListenPort"},
		{"negative port other than -1", func(c *Config) { c.ListenPort = -2 }, "ListenPort"},
		{"API address without port", func(c *Config) { c.APIAddress = "127.0.0.1" }, "APIAddress"},
		{"restart time beyond the capability's 12 bits", func(c *Config) { c.RestartTime = time.Hour + 9*time.Minute }, "RestartTime"},
		{"sub-second restart time", func(c *Config) { c.RestartTime = time.Millisecond }, "RestartTime"},
		{"long restart time is fine without graceful restart", func(c *Config) { c.GracefulRestart = false; c.RestartTime = 2 * time.Hour }, ""},
		{"negative connect retry", func(c *Config) { c.ConnectRetry = -time.Second }, "ConnectRetry"},
		{"restarting without graceful restart", func(c *Config) { c.GracefulRestart = false; c.Restarting = true }, "Restarting"},
		{"restarting with graceful restart", func(c *Config) { c.Restarting = true }, ""},
		{"deferral time beyond 4095s", func(c *Config) { c.DeferralTime = 2 * time.Hour }, "DeferralTime"},
		{"route reflector cluster ID", func(c *Config) { c.RouteReflectorClusterID = netip.MustParseAddr("10.255.255.1") }, ""},
		{"IPv6 cluster ID", func(c *Config) { c.RouteReflectorClusterID = netip.MustParseAddr("fd00::1") }, "RouteReflectorClusterID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.withDefaults().validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("validate() = %v, want no error", err)
			case tt.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.field+":")):
				t.Fatalf("validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaultsFillOnlyZeroFields(t *testing.T) {
	got := Config{}.withDefaults()
	if got.ListenPort != DefaultListenPort || got.RestartTime != DefaultRestartTime ||
		got.ConnectRetry != DefaultConnectRetry || got.DeferralTime != DefaultDeferralTime || got.Logger == nil {
		t.Errorf("defaults = port %d, restart %s, retry %s, logger %v", got.ListenPort, got.RestartTime, got.ConnectRetry, got.Logger)
	}
	set := Config{ListenPort: -1, RestartTime: time.Minute, ConnectRetry: time.Second}.withDefaults()
	if set.ListenPort != -1 || set.RestartTime != time.Minute || set.ConnectRetry != time.Second {
		t.Errorf("defaults overrode set fields: %+v", set)
	}
}

func TestNewRejectsAnInvalidConfigNamingTheField(t *testing.T) {
	cfg := validConfig()
	cfg.ASN = 0
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "ASN:") {
		t.Fatalf("New with ASN 0: error %v, want one naming ASN", err)
	}
}

func TestSecondsRoundsUpToWholeSecondsOfAtLeastOne(t *testing.T) {
	for d, want := range map[time.Duration]uint64{
		0:                       1,
		time.Millisecond:        1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		2 * time.Minute:         120,
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %d, want %d", d, got, want)
		}
	}
}
