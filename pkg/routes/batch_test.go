package routes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// TestBatchWriterMatchesEachAnswerToItsWrite sends writes that the kernel
// refuses in the middle of batches, across a batch boundary and as a batch's
// last message, and a batch whose last write is never sent, and checks that
// each error lands on its own write and the others still happen.
func TestBatchWriterMatchesEachAnswerToItsWrite(t *testing.T) {
	ns := newNS(t).WithNode(t)
	link := linkIndex(t, ns, "veth0")
	k := nsKernel(t, ns)

	var writes []RouteWrite
	for i := range batchSize + 72 {
		writes = append(writes, RouteWrite{
			Op: OpAdd, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 253, byte(i), 0}), 24),
			Gateway: netip.MustParseAddr("10.250.0.2"), LinkIndex: link,
		})
	}
	last := len(writes) - 1
	wantErr := map[int]error{
		5:             unix.ENETUNREACH, // next hop off the link's subnet
		batchSize - 1: unix.ESRCH,       // the first batch's last: delete of a route that is not there
		batchSize:     unix.EEXIST,      // add of a route added earlier in the batch
		batchSize + 1: nil,              // not sent at all: no destination
		last:          nil,              // the second batch's last, not sent either
	}
	writes[5].Gateway = netip.MustParseAddr("10.99.0.1")
	writes[batchSize-1] = RouteWrite{Op: OpDelete, Dst: netip.MustParsePrefix("10.254.0.0/24")}
	writes[batchSize] = writes[0]
	writes[batchSize+1] = RouteWrite{Op: OpAdd, Gateway: netip.MustParseAddr("10.250.0.2")}
	writes[last] = RouteWrite{Op: OpAdd, Gateway: netip.MustParseAddr("10.250.0.2")}

	errs := k.WriteRoutes(writes)
	if len(errs) != len(writes) {
		t.Fatalf("WriteRoutes returned %d errors for %d writes", len(errs), len(writes))
	}
	for i, err := range errs {
		want, failing := wantErr[i]
		switch {
		case !failing && err != nil:
			t.Errorf("write %d (%v): unexpected error %v", i, writes[i], err)
		case failing && want != nil && !errors.Is(err, want):
			t.Errorf("write %d (%v): error %v, want %v", i, writes[i], err, want)
		case failing && want == nil && (err == nil || !strings.Contains(err.Error(), "no destination")):
			t.Errorf("write %d (%v): error %v, want one about the missing destination", i, writes[i], err)
		}
	}
	installed := strings.Count(ns.IP(t, "route", "show", "proto", "78"), "\n")
	if want := len(writes) - len(wantErr); installed != want {
		t.Errorf("%d routes installed, want %d", installed, want)
	}

	// The next call reuses the list of answers: none of the last call's
	// errors may show through on a write that now succeeds (the delete at
	// position 5 is of a route that is there).
	var deletes []RouteWrite
	for i := range 11 {
		if i != 5 {
			deletes = append(deletes, RouteWrite{Op: OpDelete, Dst: writes[i].Dst, Priority: defaultMetric(writes[i].Dst)})
		}
	}
	again := k.WriteRoutes(deletes)
	for i, err := range again {
		if err != nil {
			t.Errorf("second call, write %d (%v): %v, want none", i, deletes[i], err)
		}
	}
	if len(again) != len(deletes) || &again[0] != &errs[0] {
		t.Errorf("second call: %d answers in a new list; want %d in the first call's", len(again), len(deletes))
	}
}

func TestSyncInATableAbove255(t *testing.T) {
	ns := newNS(t).WithNode(t)
	r := NewReconciler(ReconcilerParams{Logger: quietLogger(), Kernel: nsKernel(t, ns), Table: 1000})
	checkResult(t, mustSync(t, r, nodeRoutes, true), SyncResult{Added: 3})
	wantLines(t, "ip route show table 1000 proto 78", ns.IP(t, "route", "show", "table", "1000", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0",
		"10.251.2.0/24 via 10.250.0.3 dev veth0")
	wantLines(t, "ip route show proto 78 (main)", ns.IP(t, "route", "show", "proto", "78"))
	checkResult(t, mustSync(t, r, nodeRoutes[:1], true), SyncResult{Deleted: 2, Unchanged: 1})
	wantLines(t, "ip route show table 1000 proto 78 after pruning", ns.IP(t, "route", "show", "table", "1000", "proto", "78"),
		"10.251.1.0/24 via 10.250.0.2 dev veth0")
}

func linkIndex(t *testing.T, ns netnstest.NS, name string) int {
	t.Helper()
	out := ns.IP(t, "-o", "link", "show", name)
	var idx int
	if _, err := fmt.Sscanf(out, "%d:", &idx); err != nil {
		t.Fatalf("index of %s from %q: %v", name, out, err)
	}
	return idx
}

// The writer reads answers without asking who sent them: it may, because a
// netlink socket connected to the kernel is refused to every other sender.
func TestBatchWriterTakesAnswersFromTheKernelAlone(t *testing.T) {
	w, err := newBatchWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	if err := unix.Bind(other, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	// A forged acknowledgement of sequence number 1, success.
	forged := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(forged, uint32(len(forged)))
	binary.NativeEndian.PutUint16(forged[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(forged[8:], 1)
	err = unix.Sendto(other, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: w.port})
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("another socket's datagram to the writer's port: %v; want ECONNREFUSED", err)
	}
}

func TestNextMessageReadsADatagramInPlace(t *testing.T) {
	msg := func(typ uint16, seq uint32, payload ...byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(payload)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = binary.NativeEndian.AppendUint16(b, 0)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = binary.NativeEndian.AppendUint32(b, 0)
		b = append(b, payload...)
		for len(b)%unix.NLMSG_ALIGNTO != 0 {
			b = append(b, 0)
		}
		return b
	}
	two := append(msg(unix.NLMSG_ERROR, 7, 1, 2, 3, 4, 5), msg(unix.NLMSG_DONE, 8)...)
	tests := []struct {
		name    string
		in      []byte
		want    []string
		wantErr string
	}{
		{name: "two messages, the first padded", in: two, want: []string{"2 7 [1 2 3 4 5]", "3 8 []"}},
		{name: "a header cut short", in: two[:unix.NLMSG_HDRLEN-1], wantErr: "less than a message header"},
		{name: "a length past the datagram", in: msg(unix.NLMSG_ERROR, 1, 1, 2, 3, 4)[:unix.NLMSG_HDRLEN+2], wantErr: "length 20 in 18 bytes"},
		{name: "a length shorter than its header", in: append([]byte{4, 0, 0, 0}, make([]byte, 12)...), wantErr: "length 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for b := tc.in; len(b) > 0; {
				m, rest, err := nextMessage(b)
				if err != nil {
					if tc.wantErr == "" || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
					}
					return
				}
				got = append(got, fmt.Sprintf("%d %d %v", m.typ, m.seq, m.data))
				b = rest
			}
			if tc.wantErr != "" {
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("messages %q, want %q", got, tc.want)
			}
		})
	}
}
