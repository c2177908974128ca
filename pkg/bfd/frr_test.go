package bfd

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodebgp/router/pkg/internal/netnstest"
)

const (
	frrDir   = "/usr/lib/frr"
	frrGroup = "frrvty" // FRR's daemons want their user in it; root with this group passes
)

// frr is an FRR instance (zebra and bfdd) in a namespace, with its config,
// sockets and logs in a directory of its own.
type frr struct {
	dir string
}

// startFRR runs zebra and bfdd in ns with bfddConf; both are killed, by
// PID, when the test ends.
func startFRR(t *testing.T, ns netnstest.NS, bfddConf string) frr {
	t.Helper()
	if _, err := os.Stat(filepath.Join(frrDir, "bfdd")); err != nil {
		t.Skip("FRR's bfdd is not installed (hack/install-deps.sh installs frr)")
	}
	f := frr{dir: t.TempDir()}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("zebra.conf", "hostname tor\n")
	write("bfdd.conf", bfddConf)
	for _, d := range []string{"zebra", "bfdd"} {
		args := []string{"netns", "exec", ns.Name, filepath.Join(frrDir, d),
			"-u", "root", "-g", frrGroup,
			"-f", filepath.Join(f.dir, d+".conf"),
			"-i", filepath.Join(f.dir, d+".pid"),
			"-z", filepath.Join(f.dir, "zserv.api"),
			"--vty_socket", f.dir,
			"--log", "file:" + filepath.Join(f.dir, d+".log")}
		if d == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(f.dir, "bfdd.sock"))
		}
		cmd := exec.Command("ip", args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", d, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(f.dir, d+".log"))
				t.Logf("%s log:\n%s", d, log)
			}
		})
		time.Sleep(300 * time.Millisecond) // zebra's socket first; bfdd retries anyway
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := f.vtysh("show bfd peers json"); err == nil {
			return f
		} else if time.Now().After(deadline) {
			t.Fatalf("bfdd does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f frr) vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", f.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("vtysh", args...).CombinedOutput()
	if err != nil || strings.HasPrefix(strings.TrimSpace(string(out)), "%") {
		return string(out), fmt.Errorf("vtysh %v: %v: %s", cmds, err, out)
	}
	return string(out), nil
}

// frrPeer is the part of FRR's "show bfd peers json" the test reads.
type frrPeer struct {
	Peer             string `json:"peer"`
	Local            string `json:"local"`
	Status           string `json:"status"`
	Diagnostic       string `json:"diagnostic"`
	RemoteDiagnostic string `json:"remote-diagnostic"`
	RemoteRX         int    `json:"remote-receive-interval"`
	RemoteTX         int    `json:"remote-transmit-interval"`
	RemoteMult       int    `json:"remote-detect-multiplier"`
}

func (f frr) peer(t *testing.T, addr string) frrPeer {
	t.Helper()
	out, err := f.vtysh("show bfd peers json")
	if err != nil {
		t.Fatal(err)
	}
	var peers []frrPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("show bfd peers json: %v\n%s", err, out)
	}
	for _, p := range peers {
		if p.Peer == addr {
			return p
		}
	}
	t.Fatalf("FRR has no BFD peer %s:\n%s", addr, out)
	return frrPeer{}
}

// waitFRR waits (bounded) until FRR's peer addr satisfies ok.
func (f frr) waitFRR(t *testing.T, addr string, timeout time.Duration, ok func(frrPeer) bool) frrPeer {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := f.peer(t, addr)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("FRR's peer %s within %s: %+v", addr, timeout, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgainstFRR runs our endpoint against FRR's bfdd, IPv4 and IPv6:
// sessions come up with the timers each side configured, a silent path is
// detected on our side within 3 x 300 ms, the sessions come back when it
// heals, and our planned stop reaches FRR as AdminDown.
func TestAgainstFRR(t *testing.T) {
	netnstest.RequireRoot(t)
	p := newPair(t)
	f := startFRR(t, p.b, `bfd
 peer 10.251.0.1 local-address 10.251.0.2
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
 peer 2001:db8:251::1 local-address 2001:db8:251::2
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
!
`)
	ev := newEvents()
	start := time.Now()
	m := startManager(t, p.a, ev, Peer{Address: b4, Local: a4, Timers: DefaultTimers}, Peer{Address: b6, Local: a6, Timers: DefaultTimers})
	ev.wait(t, b4, Up, 0, 10*time.Second)
	ev.wait(t, b6, Up, 0, 10*time.Second)
	t.Logf("Up with FRR %s after start", time.Since(start).Round(time.Millisecond))
	for _, addr := range []string{"10.251.0.1", "2001:db8:251::1"} {
		fp := f.waitFRR(t, addr, 3*time.Second, func(fp frrPeer) bool {
			return fp.Status == "up" && fp.RemoteRX == 300 && fp.RemoteTX == 300 && fp.RemoteMult == 3
		})
		t.Logf("FRR sees %s: %+v", addr, fp)
	}
	time.Sleep(time.Second) // Poll Sequences done
	for _, st := range m.Status() {
		if st.State != Up || st.TxInterval != 300*time.Millisecond || st.DetectTime != 900*time.Millisecond {
			t.Errorf("our session with %s: %+v", st.Peer, st)
		}
	}

	// The path goes silent both ways (as a dead ToR): no packet says Down.
	n := len(ev.all)
	rules := [][]string{
		{"iptables", "INPUT", "-p", "udp", "--dport", "3784", "-j", "DROP"},
		{"iptables", "OUTPUT", "-p", "udp", "--dport", "3784", "-j", "DROP"},
	}
	fault := time.Now()
	for _, r := range rules {
		netnstest.Run(t, "ip", append([]string{"netns", "exec", p.b.Name, r[0], "-I"}, r[1:]...)...)
	}
	down, _ := ev.wait(t, b4, Down, n, 3*time.Second)
	took := down.at.Sub(fault)
	t.Logf("silent FRR -> Down after %s (%s)", took.Round(time.Millisecond), down.Diag)
	if down.Diag != DiagControlDetectExpired || took > 1200*time.Millisecond {
		t.Errorf("Down after %s with %q, want within 1.2s by detection time", took, down.Diag)
	}
	f.waitFRR(t, "10.251.0.1", 3*time.Second, func(fp frrPeer) bool { return fp.Status == "down" })

	heal := time.Now()
	for _, r := range rules {
		netnstest.Run(t, "ip", append([]string{"netns", "exec", p.b.Name, r[0], "-D"}, r[1:]...)...)
	}
	up, _ := ev.wait(t, b4, Up, n, 5*time.Second)
	t.Logf("healed -> Up after %s", up.at.Sub(heal).Round(time.Millisecond))
	if d := up.at.Sub(heal); d > 3*time.Second {
		t.Errorf("healed -> Up took %s, want at most 3s", d)
	}
	f.waitFRR(t, "10.251.0.1", 3*time.Second, func(fp frrPeer) bool { return fp.Status == "up" })

	// Our planned stop: FRR hears AdminDown.
	m.Set(nil)
	fp := f.waitFRR(t, "10.251.0.1", 3*time.Second, func(fp frrPeer) bool { return fp.Status != "up" })
	t.Logf("after our AdminDown FRR shows %+v", fp)
	if fp.RemoteDiagnostic != "administratively down" {
		t.Errorf("FRR's remote diagnostic %q, want administratively down", fp.RemoteDiagnostic)
	}
}
