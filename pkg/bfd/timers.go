package bfd

import (
	"fmt"
	"time"
)

// Timers are a session's configured intervals (RFC 5880 §6.8.1:
// bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval, bfd.DetectMult).
type Timers struct {
	// MinTx is how often we would like to send once the session is Up
	// (while it is not, at most once a second, §6.8.3).
	MinTx time.Duration
	// MinRx is the fastest we accept packets from the peer.
	MinRx time.Duration
	// Multiplier: the peer declares us down after this many of our
	// intervals without a packet from us.
	Multiplier uint8
}

// DefaultTimers: 300 ms × 3, a failure detected in about 900 ms.
var DefaultTimers = Timers{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}

// The ranges of the timers, defined once: the flags, the annotations and
// Manager.Set check through CheckInterval and CheckMultiplier. FRR takes
// 10 ms..60 s and 2..255; below 50 ms a Go process on a busy node would
// declare healthy peers dead, so we do not go that low.
const (
	MinInterval   = 50 * time.Millisecond
	MaxInterval   = 60 * time.Second
	MinMultiplier = 2
	MaxMultiplier = 255
	// slowTxInterval is the transmit interval while a session is not Up
	// (RFC 5880 §6.8.3: at least one second).
	slowTxInterval = time.Second
)

// CheckInterval bounds a transmit or receive interval. Intervals travel in
// microseconds; ours are whole milliseconds.
func CheckInterval(d time.Duration) error {
	if d < MinInterval || d > MaxInterval || d%time.Millisecond != 0 {
		return fmt.Errorf("%s is not a whole number of milliseconds in %s..%s", d, MinInterval, MaxInterval)
	}
	return nil
}

// CheckMultiplier bounds the detection multiplier.
func CheckMultiplier(m int) error {
	if m < MinMultiplier || m > MaxMultiplier {
		return fmt.Errorf("%d is outside %d..%d", m, MinMultiplier, MaxMultiplier)
	}
	return nil
}

// Check reports the first field out of range, named.
func (t Timers) Check() error {
	if err := CheckInterval(t.MinTx); err != nil {
		return fmt.Errorf("min TX: %w", err)
	}
	if err := CheckInterval(t.MinRx); err != nil {
		return fmt.Errorf("min RX: %w", err)
	}
	if err := CheckMultiplier(int(t.Multiplier)); err != nil {
		return fmt.Errorf("multiplier: %w", err)
	}
	return nil
}

func (t Timers) String() string {
	return fmt.Sprintf("tx %s rx %s x%d", t.MinTx, t.MinRx, t.Multiplier)
}
