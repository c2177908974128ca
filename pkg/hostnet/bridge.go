package hostnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nodebgp/router/pkg/internal/netconv"
)

// BridgeParams describes the pod bridge.
type BridgeParams struct {
	Name string
	// Gateways are the bridge's addresses: for each pod CIDR its first host
	// with the CIDR's mask, e.g. 10.244.1.1/24.
	Gateways []netip.Prefix
	// MTU of the bridge; 0 leaves it as it is.
	MTU int
}

// EnsureBridge creates the pod bridge if it is missing, sets its MTU, adds the
// gateway addresses it lacks and sets it up. It is idempotent, and it never
// removes an address: one it did not add may be someone else's (the CNI bridge
// plugin adds the same gateways).
//
// ctx is checked before each change: a cancelled pass stops between netlink
// calls, never in one (they cannot be cancelled), and the next pass finishes
// the job.
func (h *Host) EnsureBridge(ctx context.Context, p BridgeParams) error {
	if p.Name == "" {
		return errors.New("ensuring pod bridge: no name given")
	}
	br, err := bridgeByName(p.Name)
	if err != nil {
		return err
	}
	if br == nil {
		if err := stopped(ctx, p.Name); err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = p.Name
		attrs.MTU = p.MTU
		// An address given at creation is one the kernel keeps (its
		// addr_assign_type is "set"). Without it a bridge takes the lowest
		// MAC of its ports and changes it as pods come and go; each pod's
		// ARP entry for its gateway then names a MAC the bridge no longer
		// accepts, and its traffic off the node stops until the entry is
		// re-resolved (seen in the cluster lab: a pod deleted on a node, and
		// another pod's pings across nodes unanswered for 3 s).
		mac, err := localMAC()
		if err != nil {
			return fmt.Errorf("creating bridge %s: %w", p.Name, err)
		}
		attrs.HardwareAddr = mac
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating bridge %s: %w", p.Name, err)
		}
		if br, err = bridgeByName(p.Name); err != nil {
			return err
		}
		if br == nil {
			return fmt.Errorf("creating bridge %s: it is gone right after being created", p.Name)
		}
	}
	if p.MTU > 0 && br.Attrs().MTU != p.MTU {
		if err := stopped(ctx, p.Name); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(br, p.MTU); err != nil {
			return fmt.Errorf("setting MTU %d on bridge %s: %w", p.MTU, p.Name, err)
		}
	}
	if err := stopped(ctx, p.Name); err != nil {
		return err
	}
	if err := addGateways(br, p.Gateways); err != nil {
		return err
	}
	if err := stopped(ctx, p.Name); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("setting bridge %s up: %w", p.Name, err)
	}
	return nil
}

// localMAC is a random locally administered unicast MAC address.
func localMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random MAC address: %w", err)
	}
	mac[0] = mac[0]&^0x01 | 0x02
	return mac, nil
}

// stopped names the bridge in the error of a context that ended.
func stopped(ctx context.Context, bridge string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ensuring bridge %s: %w", bridge, err)
	}
	return nil
}

func addGateways(br netlink.Link, gateways []netip.Prefix) error {
	have, err := netlink.AddrList(br, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses of bridge %s: %w", br.Attrs().Name, err)
	}
	present := make(map[netip.Prefix]bool, len(have))
	for _, a := range have {
		if p, ok := netconv.Prefix(a.IPNet); ok {
			present[p] = true
		}
	}
	var errs []error
	for _, gw := range gateways {
		if !gw.IsValid() {
			errs = append(errs, fmt.Errorf("adding gateway to bridge %s: invalid address %s", br.Attrs().Name, gw))
			continue
		}
		if present[gw] {
			continue
		}
		err := netlink.AddrAdd(br, &netlink.Addr{IPNet: netconv.IPNet(gw)})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("adding gateway %s to bridge %s: %w", gw, br.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// DeleteBridge deletes the pod bridge, for `router cleanup`, which runs
// without an agent and so without a Host. A missing bridge is not an error; a
// link of that name that is not a bridge is, and is left alone.
func DeleteBridge(name string) error {
	br, err := bridgeByName(name)
	if err != nil || br == nil {
		return err
	}
	if err := netlink.LinkDel(br); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting bridge %s: %w", name, err)
	}
	return nil
}

// BridgeExists tells whether a bridge of that name exists. A link of that
// name that is not a bridge is an error: it blocks the pod bridge.
func (h *Host) BridgeExists(name string) (bool, error) {
	br, err := bridgeByName(name)
	return br != nil, err
}

// bridgeByName returns the bridge called name, nil if there is no link of
// that name, and an error if the link is of another kind.
func bridgeByName(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up bridge %s: %w", name, err)
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("link %s is a %s, not a bridge", name, l.Type())
	}
	return l, nil
}
