package firewall

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"
)

func TestCleanupRemovesOnlyWhatWeMade(t *testing.T) {
	tf := newTestFirewall(t)
	tf.v4.chain("filter", "FORWARD").policy = "DROP"
	tf.v4.seed("filter", "FORWARD", "-j DOCKER-USER")
	tf.v4.seed("filter", "DOCKER-USER", "-j RETURN")
	tf.v4.seed("nat", "POSTROUTING", "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")
	tf.mustSync(t, dualRules)
	// A second jump to our chain, made by hand, must go too or the chain cannot.
	tf.v4.seed("filter", "FORWARD", "-j NODEBGP-FORWARD")

	if err := tf.Cleanup(context.Background()); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	for _, f := range []*fakeTable{tf.v4, tf.v6} {
		for table, chains := range f.tables {
			for _, c := range chains {
				if strings.HasPrefix(c.name, "NODEBGP-") {
					t.Errorf("chain %s/%s survived Cleanup", table, c.name)
				}
				for _, r := range c.rules {
					if isOurJump(r) {
						t.Errorf("jump %s in %s/%s survived Cleanup", formatRule(r), table, c.name)
					}
				}
			}
		}
	}
	if got := tf.v4.rules("filter", "FORWARD"); !slices.Equal(got, []string{"-j DOCKER-USER"}) {
		t.Errorf("FORWARD after Cleanup = %q, want Docker's jump only", got)
	}
	if got := tf.v4.rules("nat", "POSTROUTING"); !slices.Equal(got, []string{"-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"}) {
		t.Errorf("POSTROUTING after Cleanup = %q, want Docker's rule only", got)
	}
	if got := tf.v4.rules("filter", "DOCKER-USER"); !slices.Equal(got, []string{"-j RETURN"}) {
		t.Errorf("DOCKER-USER after Cleanup = %q, want it untouched", got)
	}
}

func TestCleanupOfNothingIsNotAnError(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, tf *testFirewall)
	}{
		{name: "nothing was ever synced", setup: func(*testing.T, *testFirewall) {}},
		{name: "a second Cleanup", setup: func(t *testing.T, tf *testFirewall) {
			tf.mustSync(t, dualRules)
			if err := tf.Cleanup(context.Background()); err != nil {
				t.Fatalf("first Cleanup: %v", err)
			}
		}},
		{name: "ip6tables is not installed", setup: func(_ *testing.T, tf *testFirewall) {
			tf.openErr[iptables.ProtocolIPv6] = &exec.Error{Name: "ip6tables", Err: exec.ErrNotFound}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFirewall(t)
			tt.setup(t, tf)
			n4, n6 := len(tf.v4.ops), len(tf.v6.ops)
			if err := tf.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup = %v, want nil", err)
			}
			if extra := slices.Concat(tf.v4.ops[n4:], tf.v6.ops[n6:]); len(extra) > 0 {
				t.Errorf("Cleanup of nothing changed %q", extra)
			}
		})
	}
}

func TestCleanupReportsAFailureToOpenIptables(t *testing.T) {
	tf := newTestFirewall(t)
	tf.openErr[iptables.ProtocolIPv4] = errors.New("could not get iptables version")
	if err := tf.Cleanup(context.Background()); err == nil || !strings.Contains(err.Error(), "IPv4: opening iptables") {
		t.Errorf("Cleanup = %v, want the IPv4 open error", err)
	}
}
