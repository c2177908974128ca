//go:build e2e

package reflectors

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingStats reads sent and received from ping's summary line.
func pingStats(out string) (sent, received int, err error) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no summary in ping's output: %q", out)
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received, nil
}

// ping sends count echo requests from a namespace and wants every answer.
func ping(ctx context.Context, fromNs string, to netip.Addr, count int) error {
	out, runErr := run(ctx, "ip", "netns", "exec", fromNs, "ping", "-n", "-q",
		"-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", to.String())
	sent, received, err := pingStats(out)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w (%v)", to, fromNs, err, runErr)
	}
	if received != count {
		return fmt.Errorf("ping %s from %s: sent %d, received %d", to, fromNs, sent, received)
	}
	return nil
}
