package firewall

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

const (
	fromPods   = `-m comment --comment "nodebgp: forward from pods" -j ACCEPT`
	toPods     = `-m comment --comment "nodebgp: forward to pods" -j ACCEPT`
	keepSource = `-m comment --comment "nodebgp: pod to pod, keep source" -j RETURN`
	masq       = `-m comment --comment "nodebgp: masquerade pod traffic leaving the cluster" -j MASQUERADE`
)

func TestRender(t *testing.T) {
	v4, v6 := families[0], families[1]
	tests := []struct {
		name        string
		rules       Rules
		fam         family
		randomFully bool
		// want maps each chain that should exist to its rules, as iptables -S prints them.
		want map[string][]string
	}{
		{
			name:        "one cluster CIDR holding the pod CIDR masquerades everything else with one negated rule",
			rules:       Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true},
			fam:         v4,
			randomFully: true,
			want: map[string][]string{
				"NODEBGP-FORWARD": {
					"-s 10.244.0.0/16 " + fromPods,
					"-d 10.244.0.0/16 " + toPods,
				},
				"NODEBGP-POSTROUTING": {
					"-s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq + " --random-fully",
				},
			},
		},
		{
			name:  "iptables without --random-fully gets a plain MASQUERADE",
			rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD":     {"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods},
				"NODEBGP-POSTROUTING": {"-s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq},
			},
		},
		{
			name:        "masquerade off leaves out the nat chain",
			rules:       Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16")},
			fam:         v4,
			randomFully: true,
			want: map[string][]string{
				"NODEBGP-FORWARD": {"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods},
			},
		},
		{
			name:  "several cluster CIDRs return pod-to-pod traffic before one MASQUERADE",
			rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16", "10.96.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {
					"-s 10.96.0.0/16 " + fromPods, "-d 10.96.0.0/16 " + toPods,
					"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods,
				},
				"NODEBGP-POSTROUTING": {
					"-s 10.244.1.0/24 -d 10.96.0.0/16 " + keepSource,
					"-s 10.244.1.0/24 -d 10.244.0.0/16 " + keepSource,
					"-s 10.244.1.0/24 " + masq,
				},
			},
		},
		{
			name:  "a pod CIDR outside every cluster CIDR is forwarded and kept unmasqueraded too",
			rules: Rules{PodCIDRs: prefixes("192.168.5.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {
					"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods,
					"-s 192.168.5.0/24 " + fromPods, "-d 192.168.5.0/24 " + toPods,
				},
				"NODEBGP-POSTROUTING": {
					"-s 192.168.5.0/24 -d 10.244.0.0/16 " + keepSource,
					"-s 192.168.5.0/24 -d 192.168.5.0/24 " + keepSource,
					"-s 192.168.5.0/24 " + masq,
				},
			},
		},
		{
			name:  "without a cluster CIDR only the node's own pods count as pods",
			rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD":     {"-s 10.244.1.0/24 " + fromPods, "-d 10.244.1.0/24 " + toPods},
				"NODEBGP-POSTROUTING": {"-s 10.244.1.0/24 ! -d 10.244.1.0/24 " + masq},
			},
		},
		{
			name:  "two own pod CIDRs get a masquerade rule each",
			rules: Rules{PodCIDRs: prefixes("10.244.2.0/24", "10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods},
				"NODEBGP-POSTROUTING": {
					"-s 10.244.1.0/24 ! -d 10.244.0.0/16 " + masq,
					"-s 10.244.2.0/24 ! -d 10.244.0.0/16 " + masq,
				},
			},
		},
		{
			name: "the IPv6 family of a dual-stack node takes only the IPv6 CIDRs",
			rules: Rules{
				PodCIDRs:     prefixes("10.244.1.0/24", "fd00:10:244:1::/64"),
				ClusterCIDRs: prefixes("10.244.0.0/16", "fd00:10:244::/56"),
				Masquerade:   true,
			},
			fam:         v6,
			randomFully: true,
			want: map[string][]string{
				"NODEBGP-FORWARD":     {"-s fd00:10:244::/56 " + fromPods, "-d fd00:10:244::/56 " + toPods},
				"NODEBGP-POSTROUTING": {"-s fd00:10:244:1::/64 ! -d fd00:10:244::/56 " + masq + " --random-fully"},
			},
		},
		{
			name: "the IPv4 family of a dual-stack node takes only the IPv4 CIDRs",
			rules: Rules{
				PodCIDRs:     prefixes("10.244.1.0/24", "fd00:10:244:1::/64"),
				ClusterCIDRs: prefixes("10.244.0.0/16", "fd00:10:244::/56"),
			},
			fam: v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods},
			},
		},
		{
			name:  "unmasked, duplicated and unordered CIDRs render like the clean set",
			rules: Rules{PodCIDRs: prefixes("10.244.1.7/24", "10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.9.9/16", "10.96.0.0/16", "10.244.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {
					"-s 10.96.0.0/16 " + fromPods, "-d 10.96.0.0/16 " + toPods,
					"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods,
				},
				"NODEBGP-POSTROUTING": {
					"-s 10.244.1.0/24 -d 10.96.0.0/16 " + keepSource,
					"-s 10.244.1.0/24 -d 10.244.0.0/16 " + keepSource,
					"-s 10.244.1.0/24 " + masq,
				},
			},
		},
		{
			name:  "cluster CIDRs without own pod CIDRs forward but masquerade nothing",
			rules: Rules{ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true},
			fam:   v4,
			want: map[string][]string{
				"NODEBGP-FORWARD": {"-s 10.244.0.0/16 " + fromPods, "-d 10.244.0.0/16 " + toPods},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, c := range render(tt.rules.forFamily(tt.fam), tt.randomFully) {
				rules := []string{}
				for _, r := range c.rules {
					rules = append(rules, formatRule(r))
				}
				got[c.def.name] = rules
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("render:\n got %s\nwant %s", showChains(got), showChains(tt.want))
			}
		})
	}
}

func TestRenderPutsForwardChainFirst(t *testing.T) {
	chains := render(Rules{PodCIDRs: prefixes("10.244.1.0/24"), Masquerade: true}.forFamily(families[0]), false)
	var names []string
	for _, c := range chains {
		names = append(names, c.def.name)
	}
	if !slices.Equal(names, []string{"NODEBGP-FORWARD", "NODEBGP-POSTROUTING"}) {
		t.Errorf("chains = %v, want NODEBGP-FORWARD then NODEBGP-POSTROUTING", names)
	}
}

func TestForFamilyIsEmptyWithoutCIDRsOfThatFamily(t *testing.T) {
	r := Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16"), Masquerade: true}
	if r.forFamily(families[0]).empty() {
		t.Error("IPv4 rules of an IPv4 node are empty")
	}
	if !r.forFamily(families[1]).empty() {
		t.Error("IPv6 rules of an IPv4-only node are not empty")
	}
}

func TestValidateNamesTheInvalidPrefix(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		want  string
	}{
		{name: "valid rules pass", rules: Rules{PodCIDRs: prefixes("10.244.1.0/24"), ClusterCIDRs: prefixes("10.244.0.0/16")}},
		{name: "a zero pod CIDR is refused", rules: Rules{PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), {}}}, want: "PodCIDRs[1]: invalid prefix"},
		{name: "a zero cluster CIDR is refused", rules: Rules{ClusterCIDRs: []netip.Prefix{{}}}, want: "ClusterCIDRs[0]: invalid prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func showChains(chains map[string][]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(chains)) {
		b.WriteString("\n  " + name + ":")
		for _, r := range chains[name] {
			b.WriteString("\n    " + r)
		}
	}
	return b.String()
}
