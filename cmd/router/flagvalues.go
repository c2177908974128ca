package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nodebgp/router/pkg/bgp"
)

// Flag values that parse into netip types at the edge, so a bad value fails at
// flag parsing with the flag's name and nothing downstream re-parses strings.

type addrValue struct{ addr *netip.Addr }

func (v addrValue) String() string {
	if v.addr == nil || !v.addr.IsValid() {
		return ""
	}
	return v.addr.String()
}

func (v addrValue) Set(s string) error {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an IP address", s)
	}
	*v.addr = a
	return nil
}

func (addrValue) Type() string { return "ip" }

type prefixesValue struct{ prefixes *[]netip.Prefix }

func (v prefixesValue) String() string {
	parts := make([]string, 0, len(*v.prefixes))
	for _, p := range *v.prefixes {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

// Set accepts a comma-separated list (dual-stack: "10.244.0.0/16,fd00:10:244::/56").
func (v prefixesValue) Set(s string) error {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR", part)
		}
		if p != p.Masked() {
			return fmt.Errorf("%q has host bits set (did you mean %s?)", part, p.Masked())
		}
		out = append(out, p)
	}
	*v.prefixes = out
	return nil
}

func (prefixesValue) Type() string { return "cidrs" }

// asnValue is a 32-bit ASN, as bgp.CheckASN allows.
type asnValue struct{ asn *uint32 }

func (v asnValue) String() string { return fmt.Sprint(*v.asn) }

func (v asnValue) Set(s string) error {
	var n uint64
	if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	if err := bgp.CheckASN(n); err != nil {
		return err
	}
	*v.asn = uint32(n)
	return nil
}

func (asnValue) Type() string { return "asn" }

// positiveDuration rejects zero and negative durations at parse time.
type positiveDuration struct{ d *time.Duration }

func (v positiveDuration) String() string { return v.d.String() }

func (v positiveDuration) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a positive duration (e.g. 30s, 2m)", s)
	}
	*v.d = d
	return nil
}

func (positiveDuration) Type() string { return "duration" }

// nonNegativeDuration is a duration flag where 0 means "the default".
type nonNegativeDuration struct{ d *time.Duration }

func (v nonNegativeDuration) String() string {
	if v.d == nil || *v.d == 0 {
		return "0" // shown as no default in --help: 0 means the default
	}
	return v.d.String()
}

func (v nonNegativeDuration) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a duration of 0 or more (e.g. 9s)", s)
	}
	*v.d = d
	return nil
}

func (nonNegativeDuration) Type() string { return "duration" }
