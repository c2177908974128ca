package hostnet

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// routeNotification is a route notification as the kernel sends it: the
// netlink header in the host's byte order, struct rtmsg, RTA_DST.
func routeNotification(typ uint16, port uint32, protocol byte, p netip.Prefix) []byte {
	dst := p.Addr().AsSlice()
	family := byte(unix.AF_INET)
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	attrLen := 4 + len(dst)
	total := unix.SizeofNlMsghdr + unix.SizeofRtMsg + (attrLen+3)&^3
	b := make([]byte, total)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(total))
	ne.PutUint16(b[4:], typ)
	ne.PutUint32(b[12:], port)
	rt := b[unix.SizeofNlMsghdr:]
	rt[0], rt[1], rt[4], rt[5], rt[7] = family, byte(p.Bits()), unix.RT_TABLE_MAIN, protocol, unix.RTN_UNICAST
	attr := rt[unix.SizeofRtMsg:]
	ne.PutUint16(attr[0:], uint16(attrLen))
	ne.PutUint16(attr[2:], unix.RTA_DST)
	copy(attr[4:], dst)
	return b
}

func TestTheDeletionFilterKeepsOnlyOthersDeletionsOfOurRoutes(t *testing.T) {
	const writer = 4242
	p4 := netip.MustParsePrefix("10.244.1.0/24")
	p6 := netip.MustParsePrefix("fd00:10:244:1::/64")
	tests := []struct {
		name     string
		msg      []byte
		ownPort  uint32
		keep     bool
		deletion netip.Prefix
	}{
		{"a hand's deletion of our IPv4 route", routeNotification(unix.RTM_DELROUTE, 777, 78, p4), writer, true, p4},
		{"a hand's deletion of our IPv6 route", routeNotification(unix.RTM_DELROUTE, 777, 78, p6), writer, true, p6},
		{"the kernel's deletion (port 0)", routeNotification(unix.RTM_DELROUTE, 0, 78, p4), writer, true, p4},
		{"the writer's own deletion", routeNotification(unix.RTM_DELROUTE, writer, 78, p4), writer, false, netip.Prefix{}},
		{"any deletion while the writer's port is unknown", routeNotification(unix.RTM_DELROUTE, writer, 78, p4), 0, true, p4},
		{"the writer's own addition", routeNotification(unix.RTM_NEWROUTE, writer, 78, p4), writer, false, netip.Prefix{}},
		{"a hand's addition of a route of ours", routeNotification(unix.RTM_NEWROUTE, 777, 78, p4), writer, false, netip.Prefix{}},
		{"a deletion of someone else's route", routeNotification(unix.RTM_DELROUTE, 777, 4, p4), writer, false, netip.Prefix{}},
		{"a deleted default route of ours", routeNotification(unix.RTM_DELROUTE, 777, 78, netip.MustParsePrefix("0.0.0.0/0"))[:unix.SizeofNlMsghdr+unix.SizeofRtMsg], writer, true, netip.MustParsePrefix("0.0.0.0/0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The default route's message has no RTA_DST: fix its length.
			binary.NativeEndian.PutUint32(tt.msg[0:], uint32(len(tt.msg)))
			vm, err := bpf.NewVM(deletionProgram(tt.ownPort))
			if err != nil {
				t.Fatal(err)
			}
			n, err := vm.Run(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if kept := n > 0; kept != tt.keep {
				t.Errorf("filter kept the message: %v, want %v", kept, tt.keep)
			}
			msgs, err := syscall.ParseNetlinkMessage(tt.msg)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("parsing the message: %v (%d messages)", err, len(msgs))
			}
			got, ok := deletedRoute(&msgs[0], tt.ownPort)
			if ok != tt.keep || got != tt.deletion {
				t.Errorf("deletedRoute = %s, %v; want %s, %v (the Go check must agree with the filter)", got, ok, tt.deletion, tt.keep)
			}
		})
	}
}
