package bgp

import (
	"testing"
	"time"
)

func TestSettingRangesAreCheckedAtTheirBounds(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"ASN 1", CheckASN(1), true},
		{"ASN 4294967295", CheckASN(4294967295), true},
		{"ASN 0", CheckASN(0), false},
		{"ASN 23456 (AS_TRANS)", CheckASN(23456), false},
		{"ASN beyond 32 bits", CheckASN(1 << 32), false},
		{"restart time 1s", CheckRestartTime(s), true},
		{"restart time 4095s", CheckRestartTime(4095 * s), true},
		{"restart time 4096s", CheckRestartTime(4096 * s), false},
		{"restart time 0", CheckRestartTime(0), false},
		{"deferral time 10m", CheckDeferralTime(10 * time.Minute), true},
		{"deferral time 10m1s", CheckDeferralTime(10*time.Minute + s), false},
		{"deferral time 999ms", CheckDeferralTime(999 * time.Millisecond), false},
		{"hold time 0 (default)", CheckHoldTime(0), true},
		{"hold time 2s", CheckHoldTime(2 * s), false},
		{"hold time 3s", CheckHoldTime(3 * s), true},
		{"hold time 65536s", CheckHoldTime(65536 * s), false},
		{"keepalive a third of the hold time", CheckKeepaliveTime(10*s, 30*s), true},
		{"keepalive above a third of the hold time", CheckKeepaliveTime(11*s, 30*s), false},
		{"keepalive 30s with the default hold time", CheckKeepaliveTime(30*s, 0), true},
		{"keepalive 31s with the default hold time", CheckKeepaliveTime(31*s, 0), false},
		{"keepalive negative", CheckKeepaliveTime(-s, 0), false},
		{"connect retry 65535s", CheckConnectRetry(65535 * s), true},
		{"connect retry 65536s", CheckConnectRetry(65536 * s), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.err == nil) != tt.ok {
				t.Fatalf("error %v, want accepted: %v", tt.err, tt.ok)
			}
		})
	}
}
