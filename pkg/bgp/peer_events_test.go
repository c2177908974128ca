package bgp

import (
	"net/netip"
	"testing"
)

func TestPeerEventsTellTheStoryOfOneSessionDown(t *testing.T) {
	prefixLimit := map[string]any{"Topic": "Peer", "Key": "10.0.0.2", "Family": "ipv4-unicast"}
	peer := map[string]any{"Topic": "Peer", "Key": "10.0.0.2"}
	down := map[string]any{"Topic": "Peer", "Key": "10.0.0.2", "Reason": "read-failed"}
	type line struct {
		msg    string
		fields map[string]any
	}
	tests := []struct {
		name  string
		lines []line
		want  string
	}{
		{
			name:  "the cause, the notification and the session going down, in order",
			lines: []line{{"prefix limit reached", prefixLimit}, {"sent notification", peer}, {"Peer Down", down}},
			want:  "prefix limit reached (ipv4-unicast); sent notification; Peer Down: read-failed",
		},
		{
			name: "a cause logged for every UPDATE before the teardown is told once",
			lines: []line{
				{"prefix limit reached", prefixLimit}, {"prefix limit reached", prefixLimit}, {"prefix limit reached", prefixLimit},
				{"prefix limit reached", prefixLimit}, {"sent notification", peer}, {"Peer Down", down},
			},
			want: "prefix limit reached (ipv4-unicast); sent notification; Peer Down: read-failed",
		},
		{
			name:  "more different lines than a story holds start a new one",
			lines: []line{{"a", peer}, {"b", peer}, {"c", peer}, {"d", peer}, {"e", peer}},
			want:  "e",
		},
		{
			name:  "lines about something other than a neighbor are no story",
			lines: []line{{"create Destination", map[string]any{"Topic": "Table", "Key": "10.244.1.0/24"}}, {"sent notification", map[string]any{"Topic": "Peer", "Key": "not-an-address"}}},
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPeerEvents(nil)
			for _, l := range tt.lines {
				e.note(l.msg, l.fields)
			}
			if got := e.get(netip.MustParseAddr("10.0.0.2")); got != tt.want {
				t.Errorf("last error %q, want %q", got, tt.want)
			}
		})
	}
}
