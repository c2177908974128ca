//go:build e2e

package e2eutil

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePingOutput(t *testing.T) {
	const header = "PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.\n"
	reply := func(seq string) string {
		return "[1796238073.260156] 64 bytes from 10.244.2.2: icmp_seq=" + seq + " ttl=62 time=0.08 ms\n"
	}
	summary := func(sent, received string) string {
		return "\n--- 10.244.2.2 ping statistics ---\n" + sent + " packets transmitted, " + received + " received, 0% packet loss, time 238ms\n"
	}
	for _, tc := range []struct {
		name    string
		out     string
		want    PingCount
		wantErr bool
	}{
		{
			name: "every request answered",
			out:  header + reply("1") + reply("2") + reply("3") + summary("3", "3"),
			want: PingCount{Sent: 3, Received: 3},
		},
		{
			name: "an unanswered request in the middle is lost, with the time ping gave up on it",
			out: header + reply("1") + "[1796238073.310000] no answer yet for icmp_seq=2\n" + reply("3") +
				summary("3", "2"),
			want: PingCount{Sent: 3, Received: 2, Lost: []LostPing{{Seq: 2, At: time.Unix(1796238073, 310000000)}}},
		},
		{
			name: "the last request sent just before the stop is in flight, not lost",
			out:  header + reply("1") + reply("2") + summary("3", "2"),
			want: PingCount{Sent: 3, Received: 2, LastInFlight: true},
		},
		{
			name: "the last request that ping already reported overdue is lost",
			out: header + reply("1") + reply("2") + "[1796238073.5] no answer yet for icmp_seq=3\n" +
				summary("3", "2"),
			want: PingCount{Sent: 3, Received: 2, Lost: []LostPing{{Seq: 3, At: time.Unix(1796238073, 500000000)}}},
		},
		{
			name: "a late answer after no-answer-yet counts as received",
			out: header + reply("1") + "[1796238073.310000] no answer yet for icmp_seq=2\n" + reply("2") + reply("3") +
				summary("3", "3"),
			want: PingCount{Sent: 3, Received: 3},
		},
		{
			name: "unanswered requests before the last are lost even without a time",
			out:  header + reply("1") + reply("4") + summary("4", "2"),
			want: PingCount{Sent: 4, Received: 2, Lost: []LostPing{{Seq: 2}, {Seq: 3}}},
		},
		{
			name:    "no summary is an error",
			out:     header + reply("1"),
			wantErr: true,
		},
		{
			name:    "replies that disagree with the summary are an error",
			out:     header + reply("1") + summary("2", "2"),
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePingOutput(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPingCountStringNamesTheLostRequests(t *testing.T) {
	at := time.Date(2026, 12, 2, 18, 59, 33, 123e6, time.Local)
	c := PingCount{Sent: 113, Received: 111, Lost: []LostPing{{Seq: 57, At: at}, {Seq: 58}}, LastInFlight: true}
	const want = "sent 113, lost 2: icmp_seq 57 (18:59:33.123), 58; the last one was in flight at the stop"
	if got := c.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckNoPingLostNeedsAFloorOfPingsSent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       PingCount
		watched time.Duration
		wantErr string
	}{
		{name: "every ping answered over the window", c: PingCount{Sent: 80, Received: 80}, watched: 4 * time.Second},
		{name: "the request in flight at the stop is no loss", c: PingCount{Sent: 80, Received: 79, LastInFlight: true}, watched: 4 * time.Second},
		{name: "0 lost over 3 pings means nothing", c: PingCount{Sent: 3, Received: 3}, watched: 100 * time.Millisecond, wantErr: "sent only 3 packets"},
		{name: "fewer than half the interval allows", c: PingCount{Sent: 30, Received: 30}, watched: 4 * time.Second, wantErr: "want at least 40"},
		{name: "a lost ping is named", c: PingCount{Sent: 80, Received: 79, Lost: []LostPing{{Seq: 41}}}, watched: 4 * time.Second, wantErr: "lost 1: icmp_seq 41"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNoPingLost(tc.c, tc.watched, 50*time.Millisecond)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
