package peering

import (
	"strconv"

	"github.com/nodebgp/router/pkg/bgp"
)

// validASN is bgp.CheckASN as a predicate, for the annotation parsers.
func validASN(v uint64) bool { return bgp.CheckASN(v) == nil }

// parseASN reads a decimal ASN, as flags and the nodebgp.io/asn annotation
// give it.
func parseASN(s string) (uint32, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || !validASN(v) {
		return 0, false
	}
	return uint32(v), true
}
