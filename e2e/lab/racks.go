package lab

import (
	"context"
	"fmt"
	"net/netip"
)

// Racks: with Options.Racks > 0 the nodes sit in racks, one subnet and one
// bridge each, and only the ToRs route between them, as in a routed
// data-centre fabric. Rack 1 is the flat lab's fabric (fabric0, 10.199.1.0/24,
// where the control plane lives), so a one-rack lab keeps every address.
const (
	// MaxRacks keeps rack subnets (10.199.R.0/24) apart from anything else
	// the lab numbers.
	MaxRacks = 16
	// MaxToRs keeps ToR addresses (.254 down to .251) above the node addresses
	// (.11 to .210).
	MaxToRs = 4
)

// RacksPrefix covers every rack subnet: nodes and the control plane route it
// via their rack's first ToR.
var RacksPrefix = netip.MustParsePrefix("10.199.0.0/16")

// RackPrefix is rack r's subnet: rack 1 is FabricPrefix, rack 2 10.199.2.0/24.
func RackPrefix(r int) netip.Prefix {
	b := FabricPrefix.Addr().As4()
	b[2] = byte(r)
	return netip.PrefixFrom(netip.AddrFrom4(b), FabricPrefix.Bits())
}

// NodeRack is the rack of node n in a lab of racks racks: nodes are dealt
// round-robin (node1 rack 1, node2 rack 2, ...), so any node number, also one
// added later, has a rack.
func NodeRack(n, racks int) int { return (n-1)%racks + 1 }

// RackNodeIP is node n's address in rack r: the same last octet as in the
// flat lab (10+n), so node N is always .1N wherever it sits.
func RackNodeIP(r, n int) netip.Addr {
	b := RackPrefix(r).Addr().As4()
	b[3] = byte(10 + n)
	return netip.AddrFrom4(b)
}

// ToRAddr is ToR t's address in rack r: ToR 1 is .254, ToR 2 .253.
func ToRAddr(t, r int) netip.Addr {
	b := RackPrefix(r).Addr().As4()
	b[3] = byte(255 - t)
	return netip.AddrFrom4(b)
}

// rackBridge is rack r's bridge in the fabric namespace; rack 1 is fabric0.
func rackBridge(r int) string { return fmt.Sprintf("fabric%d", r-1) }

// ensureRackBridges makes the bridges of racks 2..racks (rack 1's is the
// fabric's own).
func ensureRackBridges(ctx context.Context, racks int) error {
	for r := 2; r <= racks; r++ {
		br := rackBridge(r)
		if !linkExists(ctx, FabricNetns, br) {
			if _, err := ip(ctx, FabricNetns, "link", "add", br, "type", "bridge"); err != nil {
				return fmt.Errorf("creating bridge %s for rack %d: %w", br, r, err)
			}
		}
		if _, err := ip(ctx, FabricNetns, "link", "set", br, "up"); err != nil {
			return fmt.Errorf("setting bridge %s up: %w", br, err)
		}
	}
	return nil
}

// ensureControlPlaneRackRoute sends the control plane's replies to nodes in
// other racks via rack 1's first ToR. The route hangs on labcp0, so it goes
// when the lab deletes that link.
func ensureControlPlaneRackRoute(ctx context.Context, racks int) error {
	if racks < 2 {
		return nil
	}
	via := ToRAddr(1, 1).String()
	if _, err := ip(ctx, "", "route", "replace", RacksPrefix.String(), "via", via, "dev", cpLink); err != nil {
		return fmt.Errorf("routing %s via %s from the control plane: %w", RacksPrefix, via, err)
	}
	return nil
}

// ensureRackNodeNetwork plugs node into its rack's bridge and, when there
// are other racks, routes them (and the control plane, for a node outside
// rack 1) via the rack's first ToR.
func ensureRackNodeNetwork(ctx context.Context, node *Node, racks int) error {
	addr := netip.PrefixFrom(node.IP, RackPrefix(node.Rack).Bits())
	if err := ensureUplink(ctx, node.Number, rackBridge(node.Rack), addr); err != nil {
		return err
	}
	if racks < 2 {
		return nil
	}
	via := ToRAddr(1, node.Rack).String()
	if _, err := ip(ctx, node.Netns, "route", "replace", RacksPrefix.String(), "via", via, "dev", nodeLink); err != nil {
		return fmt.Errorf("node %s: routing %s via %s: %w", node.Name, RacksPrefix, via, err)
	}
	return nil
}

// rackDefaults checks the rack options and fills in one ToR for a racked lab.
func (o Options) rackDefaults() (Options, error) {
	if o.Racks < 0 || o.Racks > MaxRacks {
		return o, fmt.Errorf("lab racks: %d is outside 0..%d", o.Racks, MaxRacks)
	}
	if o.Racks == 0 {
		if o.ToRs != 0 || len(o.ToRPasswords) > 0 {
			return o, fmt.Errorf("lab ToRs: need racks (Options.Racks > 0)")
		}
		return o, nil
	}
	if o.ToRs == 0 {
		o.ToRs = 1
	}
	if o.ToRs < 1 || o.ToRs > MaxToRs {
		return o, fmt.Errorf("lab ToRs: %d is outside 1..%d", o.ToRs, MaxToRs)
	}
	for n, pw := range o.ToRPasswords {
		if err := validNodeNumber(n); err != nil {
			return o, fmt.Errorf("lab ToR password: %w", err)
		}
		if err := validPassword(pw); err != nil {
			return o, fmt.Errorf("lab ToR password of %s: %w", NodeName(n), err)
		}
	}
	return o, nil
}

// validPassword accepts what FRR's `neighbor X password WORD` takes as one
// word: 1 to 80 printable ASCII characters without spaces.
func validPassword(pw string) error {
	if len(pw) == 0 || len(pw) > 80 {
		return fmt.Errorf("length %d is outside 1..80", len(pw))
	}
	for _, c := range pw {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("character %q is not printable ASCII without spaces", c)
		}
	}
	return nil
}
