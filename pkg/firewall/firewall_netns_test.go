package firewall

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/coreos/go-iptables/iptables"
)

var (
	netnsRules = Rules{PodCIDRs: prefixes("10.251.1.0/24"), ClusterCIDRs: prefixes("10.251.0.0/16"), Masquerade: true}
	// netnsRulesUpdated adds a pod CIDR outside the cluster CIDR and turns masquerade off.
	netnsRulesUpdated = Rules{PodCIDRs: prefixes("10.251.1.0/24", "10.252.3.0/24"), ClusterCIDRs: prefixes("10.251.0.0/16")}
)

func TestNetnsSyncKeepsExactlyOurRules(t *testing.T) {
	needRoot(t)
	ns := newNetns(t, "sync")
	var ops []string
	inNetns(t, ns, func() {
		fw := recordingFirewall(t, &ops)
		inNS(t, ns, "iptables", "-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "DROP")

		t.Log("step: the first Sync creates our chains and jumps, in the namespace only")
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		checkGolden(t, "after the first Sync", ours(inNS(t, ns, "iptables-save")), "v4-synced.golden")
		if root := rootSave(t); strings.Contains(root, "10.251.") {
			t.Fatalf("the root namespace's iptables-save shows the test's rules:\n%s", root)
		}

		t.Log("step: a second Sync changes nothing")
		ops = nil
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("second Sync: %v", err)
		}
		if len(ops) > 0 {
			t.Errorf("second Sync changed:\n%s", strings.Join(ops, "\n"))
		}

		t.Log("step: new Rules change only the difference")
		ops = nil
		if err := fw.Sync(context.Background(), netnsRulesUpdated); err != nil {
			t.Fatalf("Sync of new rules: %v", err)
		}
		want := []string{
			"append filter/NODEBGP-FORWARD -s 10.252.3.0/24 " + fromPods,
			"append filter/NODEBGP-FORWARD -d 10.252.3.0/24 " + toPods,
			"delete nat/POSTROUTING " + masqueradeJump,
			"clear-chain nat/NODEBGP-POSTROUTING",
			"delete-chain nat/NODEBGP-POSTROUTING",
		}
		if !slices.Equal(ops, want) {
			t.Errorf("ops\n got %s\nwant %s", strings.Join(ops, "\n     "), strings.Join(want, "\n     "))
		}
		checkGolden(t, "after new rules", ours(inNS(t, ns, "iptables-save")), "v4-updated.golden")

		t.Log("step: a rule deleted by hand comes back at its place")
		inNS(t, ns, "iptables", "-D", "NODEBGP-FORWARD", "-s", "10.252.3.0/24", "-m", "comment", "--comment", commentFromPods, "-j", "ACCEPT")
		ops = nil
		if err := fw.Sync(context.Background(), netnsRulesUpdated); err != nil {
			t.Fatalf("Sync after a hand edit: %v", err)
		}
		if want := []string{"insert@3 filter/NODEBGP-FORWARD -s 10.252.3.0/24 " + fromPods}; !slices.Equal(ops, want) {
			t.Errorf("ops %q, want %q", ops, want)
		}
		checkGolden(t, "after repairing a hand edit", ours(inNS(t, ns, "iptables-save")), "v4-updated.golden")

		t.Log("step: Cleanup removes our chains and jumps and nothing else")
		if err := fw.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if left := ours(inNS(t, ns, "iptables-save")); left != "" {
			t.Errorf("Cleanup left:\n%s", left)
		}
		if fwd := inNS(t, ns, "iptables", "-S", "FORWARD"); fwd != "-P FORWARD ACCEPT\n-A FORWARD -s 192.0.2.0/24 -j DROP\n" {
			t.Errorf("FORWARD after Cleanup:\n%s\nwant the foreign rule alone", fwd)
		}
		if err := fw.Cleanup(context.Background()); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
	})
}

func TestNetnsJumpRunsBeforeDockerRules(t *testing.T) {
	needRoot(t)
	ns := newNetns(t, "docker")
	// What Docker leaves behind: a DROP policy and rules of its own in FORWARD.
	for _, args := range [][]string{
		{"-P", "FORWARD", "DROP"},
		{"-N", "DOCKER-USER"},
		{"-A", "DOCKER-USER", "-j", "RETURN"},
		{"-A", "FORWARD", "-j", "DOCKER-USER"},
		{"-A", "FORWARD", "-o", "docker0", "-j", "DROP"},
	} {
		inNS(t, ns, append([]string{"iptables"}, args...)...)
	}
	docker := "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j DROP\n"
	var ops []string
	inNetns(t, ns, func() {
		fw := recordingFirewall(t, &ops)
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		want := "-P FORWARD DROP\n-A FORWARD " + forwardJump + "\n-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j DROP\n"
		if got := inNS(t, ns, "iptables", "-S", "FORWARD"); got != want {
			t.Errorf("FORWARD after Sync:\n%s\nwant our jump first:\n%s", got, want)
		}
		if err := fw.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if got := inNS(t, ns, "iptables", "-S", "FORWARD"); got != docker {
			t.Errorf("FORWARD after Cleanup:\n%s\nwant Docker's as it was:\n%s", got, docker)
		}
		if got := inNS(t, ns, "iptables", "-S", "DOCKER-USER"); got != "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n" {
			t.Errorf("DOCKER-USER after Cleanup:\n%s\nwant it untouched", got)
		}
	})
}

func TestNetnsPodsAreRoutedThroughADropPolicy(t *testing.T) {
	needRoot(t, "ping")
	// pod (10.251.1.2) -- node (10.251.1.1 | 192.0.2.1) -- outside (192.0.2.2).
	// The outside has no route back to the pods: a reply reaches the pod only when
	// the node masqueraded the request.
	pod, node, outside := newNetns(t, "pod"), newNetns(t, "node"), newNetns(t, "out")
	for _, c := range [][]string{
		{node, "ip", "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", pod},
		{node, "ip", "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", outside},
		{node, "ip", "addr", "add", "10.251.1.1/24", "dev", "pod0"},
		{node, "ip", "addr", "add", "192.0.2.1/24", "dev", "out0"},
		{node, "ip", "link", "set", "pod0", "up"},
		{node, "ip", "link", "set", "out0", "up"},
		{node, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{node, "iptables", "-P", "FORWARD", "DROP"},
		{pod, "ip", "addr", "add", "10.251.1.2/24", "dev", "eth0"},
		{pod, "ip", "link", "set", "eth0", "up"},
		{pod, "ip", "route", "add", "default", "via", "10.251.1.1"},
		{outside, "ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"},
		{outside, "ip", "link", "set", "eth0", "up"},
	} {
		inNS(t, c[0], c[1:]...)
	}
	reaches := func() bool {
		return exec.Command("ip", "netns", "exec", pod, "ping", "-c", "1", "-W", "1", "192.0.2.2").Run() == nil
	}
	if reaches() {
		t.Fatal("the pod reaches the outside before any Sync: the DROP policy is not in effect")
	}
	inNetns(t, node, func() {
		fw, err := New(Params{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if !reaches() {
			t.Error("the pod does not reach the outside through a DROP policy after Sync")
		}
		off := netnsRules
		off.Masquerade = false
		if err := fw.Sync(context.Background(), off); err != nil {
			t.Fatalf("Sync without masquerade: %v", err)
		}
		if reaches() {
			t.Error("the outside answered an unmasqueraded pod it has no route to")
		}
	})
}

func TestNetnsIPv6RulesGoToIp6tables(t *testing.T) {
	needRoot(t, "ip6tables", "ip6tables-save")
	ns := newNetns(t, "v6")
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip6tables", "-t", "nat", "-S").CombinedOutput(); err != nil {
		t.Skipf("ip6tables does not work in a network namespace here: %v: %s", err, out)
	}
	rules := Rules{PodCIDRs: prefixes("fd00:251:0:1::/64"), ClusterCIDRs: prefixes("fd00:251::/56"), Masquerade: true}
	var ops []string
	inNetns(t, ns, func() {
		fw := recordingFirewall(t, &ops)
		if err := fw.Sync(context.Background(), rules); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		checkGolden(t, "ip6tables after Sync", ours(inNS(t, ns, "ip6tables-save")), "v6-synced.golden")
		if v4 := ours(inNS(t, ns, "iptables-save")); v4 != "" {
			t.Errorf("IPv6-only rules reached iptables:\n%s", v4)
		}
		ops = nil
		if err := fw.Sync(context.Background(), rules); err != nil {
			t.Fatalf("second Sync: %v", err)
		}
		if len(ops) > 0 {
			t.Errorf("second Sync changed:\n%s", strings.Join(ops, "\n"))
		}
		if err := fw.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if left := ours(inNS(t, ns, "ip6tables-save")); left != "" {
			t.Errorf("Cleanup left:\n%s", left)
		}
	})
}

// legacyWorks skips the test unless iptables-legacy runs in ns.
func legacyWorks(t *testing.T, ns string) {
	t.Helper()
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		t.Skipf("needs iptables-legacy: %v", err)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns, "iptables-legacy", "-t", "nat", "-S").CombinedOutput(); err != nil {
		t.Skipf("iptables-legacy does not work in a network namespace here: %v: %s", err, out)
	}
}

func TestNetnsIPTablesPathChoosesTheLegacyBackend(t *testing.T) {
	needRoot(t, "iptables-legacy-save")
	ns := newNetns(t, "legacy")
	legacyWorks(t, ns)
	inNetns(t, ns, func() {
		fw, err := New(Params{Logger: testLogger(t), IPTablesPath: "iptables-legacy"})
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		checkGolden(t, "iptables-legacy after Sync", ours(inNS(t, ns, "iptables-legacy-save")), "v4-synced.golden")
		if nft := ours(inNS(t, ns, "iptables-save")); nft != "" {
			t.Errorf("rules meant for legacy reached the nft backend:\n%s", nft)
		}
		if err := fw.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if left := ours(inNS(t, ns, "iptables-legacy-save")); left != "" {
			t.Errorf("Cleanup left:\n%s", left)
		}
	})
}

func TestNetnsLockHeldTooLongIsAnErrorTheNextSyncRecovers(t *testing.T) {
	needRoot(t, "iptables-legacy-save")
	ns := newNetns(t, "lock")
	legacyWorks(t, ns)
	// Only the legacy backend takes the xtables lock. A lock file of the test's own
	// keeps every other iptables user on the machine out of this.
	lockFile := filepath.Join(t.TempDir(), "xtables.lock")
	t.Setenv("XTABLES_LOCKFILE", lockFile)
	lock, err := os.Create(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	inNetns(t, ns, func() {
		fw, err := New(Params{Logger: testLogger(t), IPTables: func(proto iptables.Protocol) (Table, error) {
			return iptables.New(iptables.IPFamily(proto), iptables.Path("iptables-legacy"), iptables.Timeout(1))
		}})
		if err != nil {
			t.Fatal(err)
		}
		err = fw.Sync(context.Background(), netnsRules)
		if err == nil || !strings.Contains(err.Error(), "xtables lock") {
			t.Fatalf("Sync with the lock held = %v, want an error about the xtables lock", err)
		}
		t.Logf("Sync with the lock held: %v", err)

		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
			t.Fatal(err)
		}
		if err := fw.Sync(context.Background(), netnsRules); err != nil {
			t.Fatalf("Sync after the lock was released: %v", err)
		}
		checkGolden(t, "after the lock was released", ours(inNS(t, ns, "iptables-legacy-save")), "v4-synced.golden")
	})
}
