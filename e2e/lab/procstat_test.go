package lab

import "testing"

func TestParseCPUSecondsCountsUserAndSystemTime(t *testing.T) {
	// A command name with spaces and a parenthesis, utime 250 and stime 50 ticks.
	stat := "4242 (router run (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseCPUSeconds(stat)
	if err != nil || got != 3.0 {
		t.Fatalf("parseCPUSeconds = %v, %v; want 3 s (300 ticks)", got, err)
	}
	if _, err := parseCPUSeconds("4242 (router) S 1"); err == nil {
		t.Fatal("a short stat line was read")
	}
}
