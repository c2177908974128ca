package hostnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnableForwarding turns on IPv4 and/or IPv6 forwarding in the current
// network namespace. A node that routes pod traffic must forward it; we write
// a sysctl only when it is not 1 already, so that a node whose operator
// manages sysctls sees no writes from us. ctx is checked before each sysctl.
func (h *Host) EnableForwarding(ctx context.Context, ipv4, ipv6 bool) error {
	root := h.sysctlRoot
	if root == "" {
		root = "/proc/sys/net"
	}
	var files []string
	if ipv4 {
		files = append(files, filepath.Join(root, "ipv4", "ip_forward"))
	}
	if ipv6 {
		files = append(files, filepath.Join(root, "ipv6", "conf", "all", "forwarding"))
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("enabling forwarding: %w", err)
		}
		if err := ensureOne(f); err != nil {
			return fmt.Errorf("enabling forwarding: %w", err)
		}
	}
	return nil
}

func ensureOne(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	return os.WriteFile(file, []byte("1\n"), 0o644)
}
