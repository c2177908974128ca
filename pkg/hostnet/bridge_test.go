package hostnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestEnsureBridgeCreatesTheBridgeOnceAndLeavesForeignAddresses(t *testing.T) {
	ns := newNS(t).WithNode(t)
	p := BridgeParams{
		Name:     "nodebgp0",
		Gateways: []netip.Prefix{netip.MustParsePrefix("10.244.1.1/24"), netip.MustParsePrefix("fd00:244:1::1/64")},
		MTU:      1400,
	}
	for pass := 1; pass <= 2; pass++ {
		var err error
		ns.Do(t, func() { err = new(Host).EnsureBridge(context.Background(), p) })
		if err != nil {
			t.Fatalf("EnsureBridge, pass %d: %v", pass, err)
		}
		if pass == 1 {
			ns.IP(t, "addr", "add", "10.99.0.1/24", "dev", "nodebgp0")
			ns.IP(t, "link", "set", "nodebgp0", "mtu", "9000")
		}
	}

	link := ns.IP(t, "-d", "link", "show", "nodebgp0")
	for _, want := range []string{"mtu 1400", ",UP", "bridge "} {
		if !strings.Contains(link, want) {
			t.Errorf("ip -d link show nodebgp0 lacks %q:\n%s", want, link)
		}
	}
	addrs := ns.IP(t, "addr", "show", "dev", "nodebgp0")
	for _, want := range []string{"inet 10.244.1.1/24", "inet6 fd00:244:1::1/64", "inet 10.99.0.1/24"} {
		if n := strings.Count(addrs, want+" "); n != 1 {
			t.Errorf("ip addr show nodebgp0 has %q %d times, want once:\n%s", want, n, addrs)
		}
	}

	var exists bool
	var err error
	ns.Do(t, func() { exists, err = new(Host).BridgeExists("nodebgp0") })
	if !exists || err != nil {
		t.Errorf("BridgeExists after EnsureBridge = %v, %v; want true", exists, err)
	}
}

// The bridge keeps its MAC while ports come and go: pods' ARP entries for
// their gateway stay valid. A bridge made without an address would take the
// lowest port MAC, 02:00:00:00:00:01 here, and give it up again.
func TestEnsureBridgeMACDoesNotFollowItsPorts(t *testing.T) {
	ns := newNS(t).WithNode(t)
	var err error
	ns.Do(t, func() { err = new(Host).EnsureBridge(context.Background(), BridgeParams{Name: "nodebgp0"}) })
	if err != nil {
		t.Fatal(err)
	}
	mac := func() string {
		out := ns.IP(t, "-br", "link", "show", "nodebgp0")
		f := strings.Fields(out)
		if len(f) < 3 {
			t.Fatalf("ip -br link show nodebgp0: %q", out)
		}
		return f[2]
	}
	before := mac()
	if b, perr := net.ParseMAC(before); perr != nil || b[0]&0x03 != 0x02 {
		t.Errorf("bridge MAC %s: want a locally administered unicast address (%v)", before, perr)
	}
	ns.IP(t, "link", "add", "vlow", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "vlowp")
	ns.IP(t, "link", "set", "vlow", "master", "nodebgp0", "up")
	if got := mac(); got != before {
		t.Errorf("a port with a lower MAC joined: bridge MAC %s -> %s", before, got)
	}
	ns.IP(t, "link", "del", "vlow")
	if got := mac(); got != before {
		t.Errorf("the port left: bridge MAC %s -> %s", before, got)
	}
	// A second pass leaves the bridge's address alone.
	ns.Do(t, func() { err = new(Host).EnsureBridge(context.Background(), BridgeParams{Name: "nodebgp0"}) })
	if got := mac(); err != nil || got != before {
		t.Errorf("second EnsureBridge: %v, bridge MAC %s -> %s", err, before, got)
	}
}

func TestDeleteBridge(t *testing.T) {
	ns := newNS(t).WithNode(t)
	var errs [3]error
	var exists bool
	ns.Do(t, func() {
		errs[0] = new(Host).EnsureBridge(context.Background(), BridgeParams{Name: "nodebgp0"})
		errs[1] = DeleteBridge("nodebgp0")
		errs[2] = DeleteBridge("nodebgp0") // already gone: not an error
		exists, _ = new(Host).BridgeExists("nodebgp0")
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
	if exists {
		t.Error("BridgeExists after DeleteBridge = true")
	}
	if out := ns.IP(t, "link", "show"); strings.Contains(out, "nodebgp0") {
		t.Errorf("nodebgp0 still there after DeleteBridge:\n%s", out)
	}
}

func TestBridgeFunctionsRefuseALinkThatIsNotABridge(t *testing.T) {
	ns := newNS(t).WithNode(t)
	ns.IP(t, "link", "add", "nodebgp0", "type", "veth", "peer", "name", "nodebgp0-peer")
	var ensureErr, deleteErr, existsErr error
	ns.Do(t, func() {
		ensureErr = new(Host).EnsureBridge(context.Background(), BridgeParams{Name: "nodebgp0", MTU: 1400})
		deleteErr = DeleteBridge("nodebgp0")
		_, existsErr = new(Host).BridgeExists("nodebgp0")
	})
	for name, err := range map[string]error{"EnsureBridge": ensureErr, "DeleteBridge": deleteErr, "BridgeExists": existsErr} {
		if err == nil || !strings.Contains(err.Error(), "not a bridge") {
			t.Errorf("%s on a veth: error %v, want one saying it is not a bridge", name, err)
		}
	}
	if out := ns.IP(t, "-d", "link", "show", "nodebgp0"); !strings.Contains(out, "veth") || strings.Contains(out, "mtu 1400") {
		t.Errorf("the veth was changed:\n%s", out)
	}
}

func TestEnsureBridgeMakesNothingOnceTheContextEnded(t *testing.T) {
	ns := newNS(t).WithNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var err error
	ns.Do(t, func() { err = new(Host).EnsureBridge(ctx, BridgeParams{Name: "nodebgp0", MTU: 1400}) })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "nodebgp0") {
		t.Errorf("EnsureBridge with an ended context: error %v, want context.Canceled naming the bridge", err)
	}
	if out := ns.IP(t, "link", "show"); strings.Contains(out, "nodebgp0") {
		t.Errorf("EnsureBridge with an ended context created the bridge:\n%s", out)
	}
}
