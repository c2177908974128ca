package nodeadd

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func at(ms int) time.Time {
	return time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func line(ms int, msg, peer string) string {
	return `{"time":"` + at(ms).Format(time.RFC3339Nano) + `","level":"INFO","msg":"` + msg + `","peer":"` + peer + `"}`
}

func TestReadEventsKeepsTheTimelineMessagesAndTheirPeerAddress(t *testing.T) {
	log := strings.Join([]string{
		"--- 2026-12-05T03:00:00Z starting: router run",
		line(1, "BGP peer added", "lab-node2 (10.199.1.12)"),
		line(2, "try to connect", "10.199.1.12"),
		`{"time":"` + at(3).Format(time.RFC3339Nano) + `","level":"INFO","msg":"route added","prefix":"10.244.2.0/24"}`,
		line(4, "Peer Up", "10.199.1.12"),
	}, "\n")
	got, err := ReadEvents(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{at(1), "BGP peer added", netip.MustParseAddr("10.199.1.12")},
		{at(2), "try to connect", netip.MustParseAddr("10.199.1.12")},
		{at(4), "Peer Up", netip.MustParseAddr("10.199.1.12")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Msg != want[i].Msg || got[i].Peer != want[i].Peer {
			t.Errorf("event %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestReadEventsRejectsAPeerThatIsNoAddress(t *testing.T) {
	if _, err := ReadEvents(strings.NewReader(line(1, "Peer Up", "lab-node2"))); err == nil {
		t.Fatal("want an error for a peer field without an address")
	}
}

func TestNewPairTakesTheFirstOfEachSinceTheNodeObjectAndWhoDialed(t *testing.T) {
	joiner, peer := netip.MustParseAddr("10.199.1.14"), netip.MustParseAddr("10.199.1.12")
	ev := func(ms int, msg string, a netip.Addr) Event { return Event{at(ms), msg, a} }
	joinerEvents := []Event{
		ev(300, msgPeerAdded, peer),
		ev(310, msgPeerAdded, netip.MustParseAddr("10.199.1.13")), // another pair
		ev(1900, msgPeerUp, peer),
	}
	peerEvents := []Event{
		ev(-5000, msgDial, joiner), // before the Node object: an earlier join
		ev(20, msgPeerAdded, joiner),
		ev(1100, msgDial, joiner),
		ev(1101, msgDialFail, joiner),
		ev(1800, msgDial, joiner),
	}
	p := NewPair("lab-node2", at(0), joiner, peer, joinerEvents, peerEvents)
	if !p.NeighborAdded.Equal(at(20)) || !p.JoinerAdded.Equal(at(300)) || !p.FirstDial.Equal(at(1100)) ||
		!p.Established.Equal(at(1900)) || p.Dialer != "peer" || p.Dials != 2 || p.Failed != 1 {
		t.Errorf("got %+v", p)
	}
}

func TestAllRoutesNeedsEveryPeersKernel(t *testing.T) {
	j := Join{Object: at(0), Pairs: []Pair{{KernelRoute: at(900)}, {KernelRoute: at(1200)}}}
	if got, ok := j.AllRoutes(); !ok || !got.Equal(at(1200)) {
		t.Errorf("got %v %v, want the later route", got, ok)
	}
	j.Pairs = append(j.Pairs, Pair{})
	if _, ok := j.AllRoutes(); ok {
		t.Error("a peer without the route: want not complete")
	}
}
