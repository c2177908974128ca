package peering

import "strconv"

// asTrans is AS_TRANS (RFC 6793): the placeholder a 4-byte ASN shows to old
// speakers, never a real AS.
const asTrans = 23456

func validASN(v uint64) bool {
	return v >= 1 && v <= 1<<32-1 && v != asTrans
}

// parseASN reads a decimal ASN, as flags and the nodebgp.io/asn annotation
// give it.
func parseASN(s string) (uint32, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || !validASN(v) {
		return 0, false
	}
	return uint32(v), true
}
