package failover

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	var out []time.Duration
	for _, x := range v {
		out = append(out, time.Duration(x)*time.Millisecond)
	}
	return out
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(700), 50, 700 * time.Millisecond},
		{"median of an odd count", ms(900, 100, 500), 50, 500 * time.Millisecond},
		{"median of an even count is the lower middle", ms(400, 100, 300, 200), 50, 200 * time.Millisecond},
		{"max", ms(900, 100, 500), 100, 900 * time.Millisecond},
		{"p50 of ten", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 50, 5 * time.Millisecond},
		{"p90 of ten", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func TestPercentileLeavesItsInputUnsorted(t *testing.T) {
	in := ms(3, 1, 2)
	Percentile(in, 50)
	if in[0] != 3*time.Millisecond {
		t.Errorf("input reordered: %v", in)
	}
}

func TestWriteTableMarksABoundThatWasHit(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, []Row{
		{Config: "bfd", Fault: "node", Samples: []Sample{{Detect: 800 * time.Millisecond, Heal: 2 * time.Second}, {Detect: 700 * time.Millisecond, Heal: 3 * time.Second}}},
		{Config: "hold", Fault: "tor", Samples: []Sample{{Detect: 5 * time.Second, Heal: time.Second}, {Detect: 30 * time.Second, TimedOut: true}}},
	})
	for _, want := range []string{
		"| bfd | node | 2 | 0.70 | 0.80 | 2.00 | 3.00 |",
		"| hold | tor | 2 | 5.00 | >30.00 | 0.00 | 1.00 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
