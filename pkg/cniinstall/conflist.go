// Package cniinstall manages the host's CNI directories: it renders this
// node's network config list and writes it atomically where the container
// runtime looks for it.
package cniinstall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

const (
	// NetworkName is the CNI network name the runtime selects.
	NetworkName = "nodebgp"
	// ConflistName is the only file this package writes in the CNI conf
	// dir. The "10-" prefix sorts it ahead of most other configs.
	ConflistName = "10-nodebgp.conflist"

	cniVersion = "1.0.0"
	// maxIfNameLen is IFNAMSIZ less the terminating NUL.
	maxIfNameLen = 15
	// minMTUv4 and minMTUv6 are the smallest MTUs the kernel accepts on an
	// interface carrying IPv4 (RFC 791) and IPv6 (RFC 8200).
	minMTUv4 = 68
	minMTUv6 = 1280
	maxMTU   = 65535
)

// ConflistParams is what the conflist depends on.
type ConflistParams struct {
	// BridgeName is the Linux bridge the pods attach to.
	BridgeName string
	MTU        int
	// PodCIDRs are this node's pod CIDRs, at most one per family; each
	// becomes one host-local range set, so a pod gets one address per family.
	PodCIDRs []netip.Prefix
	// IPAMDataDir is host-local's lease dir; "" keeps the plugin default
	// (/var/lib/cni/networks).
	IPAMDataDir string
}

// The structs below fix the field order of the rendered JSON, so the file is
// byte-for-byte stable and WriteConflist can tell when nothing changed.
type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgeConf struct {
	Type   string `json:"type"`
	Bridge string `json:"bridge"`
	// IsGateway puts each range's gateway address on the bridge, so the
	// bridge is the pods' next hop and the node routes their traffic.
	IsGateway   bool `json:"isGateway"`
	HairpinMode bool `json:"hairpinMode"`
	// IPMasq is off: egress masquerade is done by the agent's own iptables
	// chains, which know the cluster's pod CIDRs and leave pod-to-pod
	// traffic unmasqueraded.
	IPMasq       bool     `json:"ipMasq"`
	ForceAddress bool     `json:"forceAddress"`
	MTU          int      `json:"mtu"`
	IPAM         ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string        `json:"type"`
	Ranges  [][]rangeConf `json:"ranges"`
	Routes  []routeConf   `json:"routes"`
	DataDir string        `json:"dataDir,omitempty"`
}

type rangeConf struct {
	Subnet string `json:"subnet"`
}

type routeConf struct {
	Dst string `json:"dst"`
}

type portmapConf struct {
	Type         string              `json:"type"`
	Capabilities portmapCapabilities `json:"capabilities"`
	SNAT         bool                `json:"snat"`
}

type portmapCapabilities struct {
	PortMappings bool `json:"portMappings"`
}

// RenderConflist validates p and renders the conflist: a bridge with
// host-local IPAM (one range set and one default route per pod CIDR)
// followed by portmap for hostPort support.
func RenderConflist(p ConflistParams) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("rendering CNI config %s: %w", ConflistName, err)
	}
	ipam := ipamConf{Type: "host-local", DataDir: p.IPAMDataDir}
	for _, c := range p.PodCIDRs {
		ipam.Ranges = append(ipam.Ranges, []rangeConf{{Subnet: c.Masked().String()}})
		dst := "0.0.0.0/0"
		if c.Addr().Is6() {
			dst = "::/0"
		}
		ipam.Routes = append(ipam.Routes, routeConf{Dst: dst})
	}
	list := conflist{
		CNIVersion: cniVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgeConf{
				Type:        "bridge",
				Bridge:      p.BridgeName,
				IsGateway:   true,
				HairpinMode: true,
				MTU:         p.MTU,
				IPAM:        ipam,
			},
			portmapConf{Type: "portmap", Capabilities: portmapCapabilities{PortMappings: true}, SNAT: true},
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	// Encode ends the document with a newline.
	if err := enc.Encode(list); err != nil {
		return nil, fmt.Errorf("rendering CNI config %s: %w", ConflistName, err)
	}
	return buf.Bytes(), nil
}

func (p ConflistParams) validate() error {
	if err := validateBridgeName(p.BridgeName); err != nil {
		return err
	}
	if len(p.PodCIDRs) == 0 {
		return fmt.Errorf("no pod CIDR")
	}
	minMTU := minMTUv4
	var seen4, seen6 bool
	for _, c := range p.PodCIDRs {
		if !c.IsValid() {
			return fmt.Errorf("pod CIDR %v is not valid", c)
		}
		seen := &seen4
		maxBits := 30 // network, gateway, broadcast and one pod
		if c.Addr().Is6() {
			seen, maxBits, minMTU = &seen6, 126, minMTUv6
		}
		if *seen {
			return fmt.Errorf("pod CIDR %s: more than one pod CIDR of its family", c)
		}
		*seen = true
		if c.Bits() > maxBits {
			return fmt.Errorf("pod CIDR %s: too small for a gateway and a pod (at most /%d)", c, maxBits)
		}
	}
	if p.MTU < minMTU || p.MTU > maxMTU {
		if seen6 {
			return fmt.Errorf("MTU %d: outside %d..%d (IPv6 needs at least %d)", p.MTU, minMTU, maxMTU, minMTUv6)
		}
		return fmt.Errorf("MTU %d: outside %d..%d", p.MTU, minMTU, maxMTU)
	}
	if p.IPAMDataDir != "" && !filepath.IsAbs(p.IPAMDataDir) {
		return fmt.Errorf("IPAM data dir %q: not an absolute path", p.IPAMDataDir)
	}
	return nil
}

// validateBridgeName applies the kernel's rules for interface names
// (dev_valid_name), so a bad name fails here and not inside every pod ADD.
func validateBridgeName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("bridge name is empty")
	case len(name) > maxIfNameLen:
		return fmt.Errorf("bridge name %q: longer than %d bytes", name, maxIfNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("bridge name %q: not a valid interface name", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Errorf("bridge name %q: contains '/', ':' or whitespace", name)
	}
	return nil
}
