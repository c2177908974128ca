package bgp

import (
	"fmt"
	"math"
	"time"
)

// The ranges of BGP settings, defined once. The speaker's own validation, the
// agent's flags and the nodebgp.io/ annotations all check through these, so a
// value is never accepted in one place and refused in another.

// ASTrans is AS_TRANS (RFC 6793): the placeholder a 4-byte ASN shows to old
// speakers, never a real AS.
const ASTrans = 23456

const (
	// MaxRestartTime is the largest Restart Time the graceful-restart
	// capability can carry (12 bits of seconds, RFC 4724).
	MaxRestartTime = 4095 * time.Second
	// MaxDeferralTime bounds the wait for peers' End-of-RIB after a restart:
	// longer, a peer that never sends one holds our announcements too long.
	MaxDeferralTime = 10 * time.Minute
	// MinHoldTime and MaxHoldTime: a non-zero hold time is at least 3 s (RFC
	// 4271 §4.2) and fits the OPEN message's 16 bits of seconds.
	MinHoldTime = 3 * time.Second
	MaxHoldTime = math.MaxUint16 * time.Second
	// DefaultHoldTime is the hold time of a peer without one.
	DefaultHoldTime = 90 * time.Second
	// maxTimer is the largest keepalive or connect-retry time GoBGP takes
	// (16-bit seconds in its configuration).
	maxTimer = math.MaxUint16 * time.Second
)

// CheckASN refuses what cannot be a speaker's or a peer's AS: 0, AS_TRANS
// and anything beyond 32 bits.
func CheckASN(asn uint64) error {
	if asn == 0 || asn > math.MaxUint32 || asn == ASTrans {
		return fmt.Errorf("%d is not a usable ASN (1..4294967295, not %d)", asn, ASTrans)
	}
	return nil
}

// CheckRestartTime bounds the graceful-restart time.
func CheckRestartTime(d time.Duration) error {
	if d < time.Second || d > MaxRestartTime {
		return fmt.Errorf("%s is outside 1s..%s (the BGP capability's range)", d, inSeconds(MaxRestartTime))
	}
	return nil
}

// CheckDeferralTime bounds the wait for End-of-RIB after a restart.
func CheckDeferralTime(d time.Duration) error {
	if d < time.Second || d > MaxDeferralTime {
		return fmt.Errorf("%s is outside 1s..%s", d, MaxDeferralTime)
	}
	return nil
}

// CheckHoldTime: 0 (the default, 90 s) or MinHoldTime..MaxHoldTime.
func CheckHoldTime(d time.Duration) error {
	if d < 0 || (d > 0 && d < MinHoldTime) || d > MaxHoldTime {
		return fmt.Errorf("%s is not 0 or %s..%s", d, inSeconds(MinHoldTime), inSeconds(MaxHoldTime))
	}
	return nil
}

// CheckKeepaliveTime: 0 (a third of the hold time) or at most a third of the
// hold time (DefaultHoldTime when hold is 0), so that a lost keepalive is
// survived (RFC 4271 §10).
func CheckKeepaliveTime(keepalive, hold time.Duration) error {
	if hold == 0 {
		hold = DefaultHoldTime
	}
	switch {
	case keepalive < 0 || keepalive > maxTimer:
		return fmt.Errorf("%s is outside 0..%s", keepalive, inSeconds(maxTimer))
	case keepalive*3 > hold:
		return fmt.Errorf("%s is more than a third of the hold time %s", keepalive, hold)
	}
	return nil
}

// CheckConnectRetry bounds the pause between attempts to open a session.
func CheckConnectRetry(d time.Duration) error {
	if d < 0 || d > maxTimer {
		return fmt.Errorf("%s is outside 0..%s", d, inSeconds(maxTimer))
	}
	return nil
}

// inSeconds writes a bound the way BGP configurations give it: "65535s",
// not "18h12m15s".
func inSeconds(d time.Duration) string { return fmt.Sprintf("%ds", d/time.Second) }

// DefaultUpstreamMaxPrefixes is the prefix limit of an upstream peer that
// names none (--peer-router-max-prefixes, maxPrefixes in nodebgp.io/peers):
// a ToR that leaks a full table is cut off before it costs the node much,
// and a ToR's usual few routes (a default, some aggregates) are far below it.
// It is this small because GoBGP v3.37.0 checks a limit by counting the
// peer's whole Adj-RIB-In on every UPDATE (peer.go doPrefixLimit, table/adj.go
// AdjRib.Count), also for every UPDATE it had queued before the trip, so the
// cost grows with the square of the routes in: flooded with 200,000 routes,
// a limit of 5,000 cost 1.6 CPU-seconds and 45 MiB, 10,000 cost 41 CPU-seconds
// and 128 MiB, 20,000 had not settled after 150 s at 359 MiB
// (docs/benchmarks.md, "A default prefix limit").
const DefaultUpstreamMaxPrefixes = 5000
