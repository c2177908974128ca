package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
)

// injectedRange holds every prefix the benchmark announces: outside the
// cluster CIDR (10.244.0.0/16) and the lab's subnets, so the agent treats
// them as any external route and the counter never mistakes a node's route
// for one of them.
var injectedRange = netip.MustParsePrefix("172.16.0.0/12")

// maxRoutes is the number of distinct /32s in injectedRange.
const maxRoutes = 1 << (32 - 12)

// benchPrefixes returns n distinct host routes counting up from the start of
// injectedRange.
func benchPrefixes(n int) ([]netip.Prefix, error) {
	if n < 1 || n > maxRoutes {
		return nil, fmt.Errorf("-routes %d: must be 1..%d (the /32s in %s)", n, maxRoutes, injectedRange)
	}
	base := injectedRange.Addr().As4()
	start := binary.BigEndian.Uint32(base[:])
	out := make([]netip.Prefix, n)
	for i := range out {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], start+uint32(i))
		out[i] = netip.PrefixFrom(netip.AddrFrom4(b), 32)
	}
	return out, nil
}

// writeLines writes one formatted line per prefix.
func writeLines(path string, prefixes []netip.Prefix, line func(netip.Prefix) string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	for _, p := range prefixes {
		if _, err := w.WriteString(line(p) + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
