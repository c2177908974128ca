package firewall

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netns"
)

// Every namespace these tests make is called test-fw-<name>.
const netnsPrefix = "test-fw-"

// needRoot skips a test that needs root and the iptables tools.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs iptables in a throwaway network namespace")
	}
	for _, tool := range append([]string{"ip", "iptables", "iptables-save"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// newNetns creates namespace test-fw-<name>, first removing one a crashed run may
// have left, and deletes it when the test ends. Deleting the namespace also drops
// every rule in it.
func newNetns(t *testing.T, name string) string {
	t.Helper()
	ns := netnsPrefix + name
	_ = exec.Command("ip", "netns", "del", ns).Run() // a leftover of an earlier run, if any
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

// inNetns runs fn with this goroutine's OS thread switched into namespace ns.
// go-iptables execs iptables from the calling goroutine, and a child forked from
// a thread starts in that thread's network namespace, so every Firewall call made
// inside fn acts on ns. fn must not hand Firewall calls to other goroutines (t.Run
// starts one): their threads are still in the root namespace.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting the current network namespace: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("opening network namespace %s: %v", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("entering network namespace %s: %v", ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Stay locked: Go ends a locked thread with its goroutine, so the
			// namespace never leaks into other goroutines.
			t.Errorf("leaving network namespace %s: %v", ns, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// inNS runs a command in ns through `ip netns exec`, independent of the calling
// thread, and returns its stdout.
func inNS(t *testing.T, ns string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v: %s", ns, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// rootSave returns the root namespace's `iptables-save`, run from a goroutine of
// its own: its thread was never switched, so it is in the root namespace even when
// the caller's thread is not. It only reads.
func rootSave(t *testing.T) string {
	t.Helper()
	type result struct {
		out []byte
		err error
	}
	done := make(chan result)
	go func() {
		out, err := exec.Command("iptables-save").Output()
		done <- result{out, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("iptables-save in the root namespace: %v", r.err)
	}
	return string(r.out)
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// ours keeps the part of `iptables-save` output that is about our chains: the
// declarations of our chains, the rules in them and the jumps to them, under the
// header of their table, with counters zeroed.
func ours(save string) string {
	var b strings.Builder
	header, printed := "", false
	for _, line := range strings.Split(save, "\n") {
		if strings.HasPrefix(line, "*") {
			header, printed = line, false
			continue
		}
		if !strings.Contains(line, "NODEBGP-") || strings.HasPrefix(line, "#") {
			continue
		}
		if !printed {
			b.WriteString(header + "\n")
			printed = true
		}
		b.WriteString(counters.ReplaceAllString(line, "[0:0]") + "\n")
	}
	return b.String()
}

func checkGolden(t *testing.T, what, got, goldenFile string) {
	t.Helper()
	want, err := os.ReadFile("testdata/" + goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s: our chains differ from testdata/%s\n--- got\n%s--- want\n%s", what, goldenFile, got, want)
	}
}

// recordingTable passes every command to the real iptables and writes down the
// ones that change something, to prove what a Sync did.
type recordingTable struct {
	Table
	ops *[]string
}

func (r recordingTable) log(op, table, chain string, spec []string) {
	*r.ops = append(*r.ops, opLine(op, table, chain, spec))
}

func (r recordingTable) NewChain(table, chain string) error {
	r.log("new-chain", table, chain, nil)
	return r.Table.NewChain(table, chain)
}

func (r recordingTable) ClearChain(table, chain string) error {
	r.log("clear-chain", table, chain, nil)
	return r.Table.ClearChain(table, chain)
}

func (r recordingTable) DeleteChain(table, chain string) error {
	r.log("delete-chain", table, chain, nil)
	return r.Table.DeleteChain(table, chain)
}

func (r recordingTable) Insert(table, chain string, pos int, spec ...string) error {
	r.log("insert@"+strconv.Itoa(pos), table, chain, spec)
	return r.Table.Insert(table, chain, pos, spec...)
}

func (r recordingTable) Append(table, chain string, spec ...string) error {
	r.log("append", table, chain, spec)
	return r.Table.Append(table, chain, spec...)
}

func (r recordingTable) Delete(table, chain string, spec ...string) error {
	r.log("delete", table, chain, spec)
	return r.Table.Delete(table, chain, spec...)
}

// recordingFirewall is a Firewall over the real `iptables`/`ip6tables` on PATH
// whose changing commands are written to ops.
func recordingFirewall(t *testing.T, ops *[]string) *Firewall {
	t.Helper()
	fw, err := New(Params{
		Logger: testLogger(t),
		IPTables: func(proto iptables.Protocol) (Table, error) {
			ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(5))
			if err != nil {
				return nil, err
			}
			return recordingTable{Table: ipt, ops: ops}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testLogger shows the firewall's decisions in `go test -v`.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}
