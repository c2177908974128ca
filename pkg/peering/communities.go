package peering

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// wellKnownCommunities are the RFC 1997 names accepted besides asn:value.
var wellKnownCommunities = []string{"no-export", "no-advertise"}

// parseList reads a comma-separated annotation, normalizing each element and
// dropping repeats. Any bad element leaves the whole list at its default
// (none): tagging routes with part of what was asked for — say, without its
// no-export — could leak them where they must not go.
func parseList(value string, normalize func(string) (string, bool), what string) ([]string, fieldErrors) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var out []string
	var errs fieldErrors
	for i, raw := range strings.Split(value, ",") {
		c, ok := normalize(strings.TrimSpace(raw))
		if !ok {
			errs.add(fmt.Sprintf("[%d]", i), "%q %s", strings.TrimSpace(raw), what)
			continue
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// normalizeCommunity reads a standard community: "asn:value" with 16-bit
// parts, or a well-known name.
func normalizeCommunity(s string) (string, bool) {
	if lower := strings.ToLower(s); slices.Contains(wellKnownCommunities, lower) {
		return lower, true
	}
	parts, ok := uintParts(s, 2, 16)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d", parts[0], parts[1]), true
}

// normalizeLargeCommunity reads an RFC 8092 large community "a:b:c" with
// 32-bit parts.
func normalizeLargeCommunity(s string) (string, bool) {
	parts, ok := uintParts(s, 3, 32)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d:%d", parts[0], parts[1], parts[2]), true
}

// uintParts splits s at colons into exactly n decimal numbers of bits bits.
func uintParts(s string, n, bits int) ([]uint64, bool) {
	fields := strings.Split(s, ":")
	if len(fields) != n {
		return nil, false
	}
	out := make([]uint64, 0, n)
	for _, f := range fields {
		v, err := strconv.ParseUint(f, 10, bits)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
