package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

func TestEnableForwarding(t *testing.T) {
	tests := []struct {
		name       string
		ipv4, ipv6 bool
		before     [2]string // ip_forward, conf/all/forwarding
		want       [2]string
	}{
		{name: "turns on IPv4 forwarding", ipv4: true, before: [2]string{"0\n", "0\n"}, want: [2]string{"1\n", "0\n"}},
		{name: "turns on IPv6 forwarding", ipv6: true, before: [2]string{"0\n", "0\n"}, want: [2]string{"0\n", "1\n"}},
		{name: "turns on both", ipv4: true, ipv6: true, before: [2]string{"0\n", "0\n"}, want: [2]string{"1\n", "1\n"}},
		// "1" without a newline would become "1\n" if it were written.
		{name: "does not write a sysctl that is already on", ipv4: true, ipv6: true, before: [2]string{"1", "1"}, want: [2]string{"1", "1"}},
		{name: "touches nothing when asked for neither", before: [2]string{"0\n", "0\n"}, want: [2]string{"0\n", "0\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			files := [2]string{filepath.Join(root, "ipv4", "ip_forward"), filepath.Join(root, "ipv6", "conf", "all", "forwarding")}
			for i, f := range files {
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte(tc.before[i]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := (&Host{sysctlRoot: root}).EnableForwarding(context.Background(), tc.ipv4, tc.ipv6); err != nil {
				t.Fatalf("EnableForwarding: %v", err)
			}
			for i, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tc.want[i] {
					t.Errorf("%s = %q, want %q", f, b, tc.want[i])
				}
			}
		})
	}
}

func TestEnableForwardingFailsWithoutTheSysctl(t *testing.T) {
	err := (&Host{sysctlRoot: t.TempDir()}).EnableForwarding(context.Background(), false, true)
	if err == nil {
		t.Fatal("EnableForwarding on a host without IPv6 sysctls: no error")
	}
}

func TestEnableForwardingInANamespace(t *testing.T) {
	ns := newNS(t).WithNode(t)
	var err error
	ns.Do(t, func() {
		// Guard: this thread must see the namespace's sysctls, not the
		// host's, before we write any. veth0 exists only in the namespace.
		if _, statErr := os.Stat("/proc/sys/net/ipv4/conf/veth0"); statErr != nil {
			err = fmt.Errorf("not inside the namespace's /proc/sys/net: %w", statErr)
			return
		}
		err = new(Host).EnableForwarding(context.Background(), true, true)
	})
	if err != nil {
		t.Fatalf("EnableForwarding: %v", err)
	}
	for _, key := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		out := netnstest.Run(t, "ip", "netns", "exec", ns.Name, "cat", key)
		if strings.TrimSpace(out) != "1" {
			t.Errorf("%s in the namespace = %q, want 1", key, out)
		}
	}
}

func TestEnableForwardingWritesNothingOnceTheContextEnded(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "ipv4", "ip_forward")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&Host{sysctlRoot: root}).EnableForwarding(ctx, true, false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("EnableForwarding with an ended context: error %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "0\n" {
		t.Errorf("ip_forward = %q after EnableForwarding with an ended context, want it untouched", b)
	}
}
