//go:build e2e

package services

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const (
	announceWait = 30 * time.Second
	pollEvery    = 20 * time.Millisecond
)

func tor(t *testing.T) *lab.ToR { return suite.Lab(t).ToRs[0] }

// torNextHops are the next hops of the ToR's best and multipath (ECMP)
// paths to prefix, sorted; none when the ToR has no valid path.
func torNextHops(ctx context.Context, t *lab.ToR, prefix netip.Prefix) ([]netip.Addr, []lab.ToRPath, error) {
	table, err := t.BGPTable(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []netip.Addr
	for _, p := range table[prefix] {
		if p.Valid && (p.Best || p.Multipath) && len(p.NextHops) > 0 {
			out = append(out, p.NextHops[0])
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), table[prefix], nil
}

// waitToR waits until the ToR routes prefix over exactly want (absent
// when want is empty) and returns how long that took.
func waitToR(ctx context.Context, t *testing.T, prefix netip.Prefix, want []netip.Addr, timeout time.Duration) time.Duration {
	t.Helper()
	took, err := waitToRErr(ctx, t, prefix, want, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return took
}

func waitToRErr(ctx context.Context, t *testing.T, prefix netip.Prefix, want []netip.Addr, timeout time.Duration) (time.Duration, error) {
	what := fmt.Sprintf("ToR routes %s over %v", prefix, want)
	if len(want) == 0 {
		what = fmt.Sprintf("ToR has no route to %s", prefix)
	}
	return e2eutil.WaitFor(timeout, pollEvery, what, func() error {
		got, _, err := torNextHops(ctx, tor(t), prefix)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("next hops %v", got)
		}
		return nil
	})
}

// p50 is the median of ds (the lower middle of an even count).
func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}
