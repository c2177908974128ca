package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"
)

// testFirewall is a Firewall over two fake tables, one per family.
type testFirewall struct {
	*Firewall
	v4, v6 *fakeTable
	// openErr makes opening a family fail, as a missing ip6tables would.
	openErr map[iptables.Protocol]error
	opened  []iptables.Protocol
}

func newTestFirewall(t *testing.T) *testFirewall {
	t.Helper()
	tf := &testFirewall{v4: newFakeTable(t), v6: newFakeTable(t), openErr: map[iptables.Protocol]error{}}
	fw, err := New(Params{IPTables: func(proto iptables.Protocol) (Table, error) {
		tf.opened = append(tf.opened, proto)
		if err := tf.openErr[proto]; err != nil {
			return nil, err
		}
		if proto == iptables.ProtocolIPv6 {
			return tf.v6, nil
		}
		return tf.v4, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	tf.Firewall = fw
	return tf
}

func (tf *testFirewall) mustSync(t *testing.T, r Rules) {
	t.Helper()
	if err := tf.Sync(context.Background(), r); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

var (
	v4Rules   = Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true}
	v6Rules   = Rules{PodCIDRs: prefixes("fd00:10:244:1::/64"), ClusterCIDRs: prefixes("fd00:10:244::/56"), Masquerade: true}
	dualRules = Rules{
		PodCIDRs:     prefixes("10.244.1.0/24", "fd00:10:244:1::/64"),
		ClusterCIDRs: prefixes("10.244.0.0/16", "fd00:10:244::/56"),
		Masquerade:   true,
	}
)

const (
	forwardJump    = `-m comment --comment "nodebgp: pod forwarding" -j NODEBGP-FORWARD`
	masqueradeJump = `-m comment --comment "nodebgp: pod masquerade" -j NODEBGP-POSTROUTING`
)

func TestSyncFillsEachChainBeforeJumpingToIt(t *testing.T) {
	tf := newTestFirewall(t)
	tf.mustSync(t, v4Rules)

	want := []string{
		"new-chain filter/NODEBGP-FORWARD",
		"append filter/NODEBGP-FORWARD -s 10.244.0.0/16 " + fromPods,
		"append filter/NODEBGP-FORWARD -d 10.244.0.0/16 " + toPods,
		"insert@1 filter/FORWARD " + forwardJump,
		"new-chain nat/NODEBGP-POSTROUTING",
		"append nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
		"insert@1 nat/POSTROUTING " + masqueradeJump,
	}
	if !slices.Equal(tf.v4.ops, want) {
		t.Errorf("ops\n got %s\nwant %s", strings.Join(tf.v4.ops, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestSyncTwiceChangesNothing(t *testing.T) {
	tests := []struct {
		name        string
		rules       Rules
		randomFully bool
	}{
		{name: "IPv4 with masquerade", rules: v4Rules, randomFully: true},
		{name: "IPv4 without --random-fully", rules: v4Rules},
		{name: "IPv6 with masquerade", rules: v6Rules, randomFully: true},
		{name: "dual stack", rules: dualRules, randomFully: true},
		{name: "several cluster CIDRs", rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16", "10.96.0.0/16"), Masquerade: true}},
		{name: "masquerade off", rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFirewall(t)
			tf.v4.randomFully, tf.v6.randomFully = tt.randomFully, tt.randomFully
			tf.mustSync(t, tt.rules)
			if len(tf.v4.ops)+len(tf.v6.ops) == 0 {
				t.Fatal("first Sync changed nothing")
			}
			v4, v6 := len(tf.v4.ops), len(tf.v6.ops)
			tf.mustSync(t, tt.rules)
			if extra := slices.Concat(tf.v4.ops[v4:], tf.v6.ops[v6:]); len(extra) > 0 {
				t.Errorf("second Sync changed:\n%s", strings.Join(extra, "\n"))
			}
		})
	}
}

func TestSyncAppliesOnlyTheDifference(t *testing.T) {
	tests := []struct {
		name     string
		from, to Rules
		want     []string
	}{
		{
			name: "masquerade off removes the nat jump and chain and leaves forwarding alone",
			from: v4Rules,
			to:   Rules{PodCIDRs: v4Rules.PodCIDRs, ClusterCIDRs: v4Rules.ClusterCIDRs},
			want: []string{
				"delete nat/POSTROUTING " + masqueradeJump,
				"clear-chain nat/NODEBGP-POSTROUTING",
				"delete-chain nat/NODEBGP-POSTROUTING",
			},
		},
		{
			name: "masquerade on again brings back the nat chain only",
			from: Rules{PodCIDRs: v4Rules.PodCIDRs, ClusterCIDRs: v4Rules.ClusterCIDRs},
			to:   v4Rules,
			want: []string{
				"new-chain nat/NODEBGP-POSTROUTING",
				"append nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
				"insert@1 nat/POSTROUTING " + masqueradeJump,
			},
		},
		{
			name: "a second cluster CIDR adds its rules and replaces the masquerade rule after its RETURNs are in",
			from: v4Rules,
			to:   Rules{PodCIDRs: v4Rules.PodCIDRs, ClusterCIDRs: prefixes("10.244.0.0/16", "10.96.0.0/16"), Masquerade: true},
			want: []string{
				"insert@1 filter/NODEBGP-FORWARD -s 10.96.0.0/16 " + fromPods,
				"insert@2 filter/NODEBGP-FORWARD -d 10.96.0.0/16 " + toPods,
				"insert@1 nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 -d 10.96.0.0/16 " + keepSource,
				"insert@2 nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 -d 10.244.0.0/16 " + keepSource,
				"insert@3 nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 " + masq + " --random-fully",
				"delete nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
			},
		},
		{
			name: "a second pod CIDR inside the cluster CIDR adds one masquerade rule",
			from: v4Rules,
			to:   Rules{PodCIDRs: prefixes("10.244.1.0/24", "10.244.7.0/24"), ClusterCIDRs: v4Rules.ClusterCIDRs, Masquerade: true},
			want: []string{
				"append nat/NODEBGP-POSTROUTING -s 10.244.7.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFirewall(t)
			tf.mustSync(t, tt.from)
			n := len(tf.v4.ops)
			tf.mustSync(t, tt.to)
			if got := tf.v4.ops[n:]; !slices.Equal(got, tt.want) {
				t.Errorf("ops\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

func TestSyncRepairsDrift(t *testing.T) {
	tests := []struct {
		name  string
		drift func(f *fakeTable)
		want  []string
	}{
		{
			name: "a rule deleted by hand comes back at its place",
			drift: func(f *fakeTable) {
				f.chain("filter", "NODEBGP-FORWARD").rules = f.chain("filter", "NODEBGP-FORWARD").rules[1:]
			},
			want: []string{"insert@1 filter/NODEBGP-FORWARD -s 10.244.0.0/16 " + fromPods},
		},
		{
			name:  "a rule added by hand to our chain is removed",
			drift: func(f *fakeTable) { f.seed("filter", "NODEBGP-FORWARD", "-s 1.2.3.4/32 -j DROP") },
			want:  []string{"delete filter/NODEBGP-FORWARD -s 1.2.3.4/32 -j DROP"},
		},
		{
			name: "a jump deleted by hand is inserted again at the top",
			drift: func(f *fakeTable) {
				f.chain("filter", "FORWARD").rules = nil
				f.seed("filter", "FORWARD", "-j DOCKER-USER")
			},
			want: []string{"insert@1 filter/FORWARD " + forwardJump},
		},
		{
			name: "a chain deleted by hand is created and filled again",
			drift: func(f *fakeTable) {
				f.chain("nat", "POSTROUTING").rules = nil
				f.tables["nat"] = slices.DeleteFunc(f.tables["nat"], func(c *fakeChain) bool { return c.name == "NODEBGP-POSTROUTING" })
			},
			want: []string{
				"new-chain nat/NODEBGP-POSTROUTING",
				"append nat/NODEBGP-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
				"insert@1 nat/POSTROUTING " + masqueradeJump,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFirewall(t)
			tf.mustSync(t, v4Rules)
			tt.drift(tf.v4)
			n := len(tf.v4.ops)
			tf.mustSync(t, v4Rules)
			if got := tf.v4.ops[n:]; !slices.Equal(got, tt.want) {
				t.Errorf("ops\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

func TestSyncJumpsBeforeDockerRulesAndKeepsThem(t *testing.T) {
	tf := newTestFirewall(t)
	docker := []string{"-j DOCKER-USER", "-j DOCKER-FORWARD", "-o docker0 -j DROP"}
	tf.v4.chain("filter", "FORWARD").policy = "DROP"
	tf.v4.seed("filter", "FORWARD", docker...)
	tf.mustSync(t, v4Rules)

	want := slices.Concat([]string{forwardJump}, docker)
	if got := tf.v4.rules("filter", "FORWARD"); !slices.Equal(got, want) {
		t.Errorf("FORWARD\n got %q\nwant %q", got, want)
	}
	if p := tf.v4.chain("filter", "FORWARD").policy; p != "DROP" {
		t.Errorf("FORWARD policy = %s, want DROP left alone", p)
	}
}

func TestSyncLeavesAFamilyWithoutCIDRsAlone(t *testing.T) {
	tf := newTestFirewall(t)
	tf.openErr[iptables.ProtocolIPv6] = fmt.Errorf("ip6tables must not be run")
	tf.mustSync(t, v4Rules)
	if slices.Contains(tf.opened, iptables.ProtocolIPv6) {
		t.Error("Sync of IPv4-only rules opened ip6tables")
	}
	if len(tf.v6.ops) > 0 {
		t.Errorf("Sync of IPv4-only rules changed ip6tables: %q", tf.v6.ops)
	}
}

func TestSyncPutsEachFamilyInItsOwnTable(t *testing.T) {
	tf := newTestFirewall(t)
	tf.mustSync(t, dualRules)
	for _, c := range []struct {
		fam  string
		f    *fakeTable
		want string
		not  string
	}{
		{fam: "IPv4", f: tf.v4, want: "10.244.1.0/24", not: "fd00:"},
		{fam: "IPv6", f: tf.v6, want: "fd00:10:244:1::/64", not: "10.244."},
	} {
		nat := strings.Join(c.f.rules("nat", "NODEBGP-POSTROUTING"), "\n")
		all := nat + strings.Join(c.f.rules("filter", "NODEBGP-FORWARD"), "\n")
		if !strings.Contains(nat, c.want) || strings.Contains(all, c.not) {
			t.Errorf("%s rules hold %q, want %s and nothing of %s", c.fam, all, c.want, c.not)
		}
	}
}

func TestSyncCollectsEveryErrorAndKeepsGoing(t *testing.T) {
	tf := newTestFirewall(t)
	tf.v4.fail = func(op, table, chain string) error {
		if op == "append" && chain == "NODEBGP-FORWARD" {
			return errLock
		}
		return nil
	}
	tf.openErr[iptables.ProtocolIPv6] = errors.New("ip6tables: no such file")

	err := tf.Sync(context.Background(), dualRules)
	if err == nil {
		t.Fatal("Sync succeeded with failing commands")
	}
	for _, want := range []string{
		`IPv4 filter/NODEBGP-FORWARD: appending rule -s 10.244.0.0/16 ` + fromPods + `: exit status 4: Another app is currently holding the xtables lock`,
		"IPv6: opening iptables: ip6tables: no such file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Sync error %q\ndoes not contain %q", err, want)
		}
	}
	// The nat chain is independent of the failed filter chain and was still synced.
	if got := tf.v4.rules("nat", "NODEBGP-POSTROUTING"); len(got) != 1 {
		t.Errorf("nat chain = %q, want its masquerade rule despite the filter failure", got)
	}
}

func TestSyncConvergesOnTheNextCallAfterTheLockWasHeld(t *testing.T) {
	tf := newTestFirewall(t)
	tf.v4.fail = func(string, string, string) error { return errLock }
	if err := tf.Sync(context.Background(), v4Rules); err == nil || !strings.Contains(err.Error(), "xtables lock") {
		t.Fatalf("Sync with the lock held = %v, want the lock error", err)
	}
	if len(tf.v4.ops) > 0 {
		t.Fatalf("Sync with the lock held changed %q", tf.v4.ops)
	}

	tf.v4.fail = nil
	tf.mustSync(t, v4Rules)
	if got := tf.v4.rules("filter", "FORWARD"); !slices.Equal(got, []string{forwardJump}) {
		t.Errorf("FORWARD = %q after the lock was released, want our jump", got)
	}
}

func TestSyncRefusesInvalidRulesWithoutTouchingIptables(t *testing.T) {
	tf := newTestFirewall(t)
	tf.mustSync(t, v4Rules)
	n := len(tf.v4.ops)
	bad := v4Rules
	bad.PodCIDRs = append(slices.Clone(bad.PodCIDRs), netip.Prefix{})
	if err := tf.Sync(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "PodCIDRs[1]") {
		t.Errorf("Sync(invalid) = %v, want an error naming PodCIDRs[1]", err)
	}
	if len(tf.v4.ops) != n {
		t.Errorf("Sync(invalid) changed %q", tf.v4.ops[n:])
	}
}

func TestNewRefusesBothASeamAndBinaryPaths(t *testing.T) {
	_, err := New(Params{
		IPTables:     func(iptables.Protocol) (Table, error) { return nil, errors.New("unused") },
		IPTablesPath: "/usr/sbin/iptables-legacy",
	})
	if err == nil {
		t.Error("New accepted IPTables together with IPTablesPath")
	}
}

func TestSyncAndCleanupChangeNothingOnceTheContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	tf := newTestFirewall(t)
	if err := tf.Sync(ctx, dualRules); !errors.Is(err, context.Canceled) {
		t.Errorf("Sync with an ended context: error %v, want context.Canceled", err)
	}
	if len(tf.v4.ops)+len(tf.v6.ops) != 0 {
		t.Errorf("Sync with an ended context changed iptables: %v %v", tf.v4.ops, tf.v6.ops)
	}

	tf.mustSync(t, dualRules)
	tf.v4.ops, tf.v6.ops = nil, nil
	if err := tf.Cleanup(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Cleanup with an ended context: error %v, want context.Canceled", err)
	}
	if len(tf.v4.ops)+len(tf.v6.ops) != 0 {
		t.Errorf("Cleanup with an ended context changed iptables: %v %v", tf.v4.ops, tf.v6.ops)
	}
}
