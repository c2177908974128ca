package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// desiredPaths turns Desired.Advertised into the paths to originate:
// prefixes masked and deduplicated, each with its next hop. A path whose
// next hop is not a usable address, or of another family than its prefix,
// cannot be announced and is dropped with an error naming it, as is a
// second next hop for one prefix (we originate one path per prefix).
func desiredPaths(paths []Path) ([]Path, error) {
	var errs []error
	seen := make(map[netip.Prefix]netip.Addr, len(paths))
	out := make([]Path, 0, len(paths))
	for _, in := range paths {
		p, nextHop := in.Prefix, in.NextHop.Unmap()
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("prefix %q is not valid", p))
			continue
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("prefix %s: not valid after unmapping", p))
			continue
		}
		if !nextHop.IsValid() || nextHop.IsUnspecified() || nextHop.Zone() != "" {
			errs = append(errs, fmt.Errorf("prefix %s: next hop %q is not a usable address", p, nextHop))
			continue
		}
		if p.Addr().Is4() != nextHop.Is4() {
			errs = append(errs, fmt.Errorf("prefix %s: cannot be advertised with next hop %s of another address family", p, nextHop))
			continue
		}
		if first, ok := seen[p]; ok {
			if first != nextHop {
				errs = append(errs, fmt.Errorf("prefix %s: next hop %s besides %s; keeping %s", p, nextHop, first, first))
			}
			continue
		}
		seen[p] = nextHop
		out = append(out, Path{Prefix: p, NextHop: nextHop})
	}
	slices.SortFunc(out, comparePaths)
	return out, errors.Join(errs...)
}

// desiredServicePaths is desiredPaths for Service routes, less those whose
// prefix is already one of pods (a pod prefix is announced to every peer,
// which a Service route must not take away).
func desiredServicePaths(paths, pods []Path) ([]Path, error) {
	out, err := desiredPaths(paths)
	podPrefixes := make(map[netip.Prefix]bool, len(pods))
	for _, p := range pods {
		podPrefixes[p.Prefix] = true
	}
	out = slices.DeleteFunc(out, func(p Path) bool { return podPrefixes[p.Prefix] })
	if err != nil {
		err = fmt.Errorf("services: %w", err)
	}
	return out, err
}

// advertiseDiff compares the paths to originate with those originated.
// A path whose prefix is originated with another next hop is in add: adding
// it replaces the old one (implicit withdraw).
func advertiseDiff(desired, actual []Path) (add, withdraw []Path) {
	want := make(map[netip.Prefix]bool, len(desired))
	have := make(map[Path]bool, len(actual))
	for _, p := range desired {
		want[p.Prefix] = true
	}
	for _, p := range actual {
		have[p] = true
		if !want[p.Prefix] {
			withdraw = append(withdraw, p)
		}
	}
	for _, p := range desired {
		if !have[p] {
			add = append(add, p)
		}
	}
	slices.SortFunc(add, comparePaths)
	slices.SortFunc(withdraw, comparePaths)
	return add, withdraw
}

// prefixesOfFamily returns the prefixes of one family (IPv4 when v4).
func prefixesOfFamily(prefixes []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range prefixes {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// prefixesOf returns the prefixes of paths of one family (IPv4 when v4).
func prefixesOf(paths []Path, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range paths {
		if p.Prefix.Addr().Is4() == v4 {
			out = append(out, p.Prefix)
		}
	}
	return out
}
