package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

// TestBatchWriterMatchesEachAnswerToItsWrite sends writes that the kernel
// refuses in the middle of batches, across a batch boundary, and checks that
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
	wantErr := map[int]error{
		5:             unix.ENETUNREACH, // next hop off the link's subnet
		batchSize - 1: unix.ESRCH,       // delete of a route that is not there
		batchSize:     unix.EEXIST,      // add of a route added earlier in the batch
		batchSize + 1: nil,              // not sent at all: no destination
	}
	writes[5].Gateway = netip.MustParseAddr("10.99.0.1")
	writes[batchSize-1] = RouteWrite{Op: OpDelete, Dst: netip.MustParsePrefix("10.254.0.0/24")}
	writes[batchSize] = writes[0]
	writes[batchSize+1] = RouteWrite{Op: OpAdd, Gateway: netip.MustParseAddr("10.250.0.2")}

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
