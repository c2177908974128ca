package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nodebgp/router/e2e/lab"
	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The anchors are third-party BGP speakers measured in the same run as the
// agent, each on its own in a namespace of the fabric (dutNetns), receiving
// the same routes from the same injector: BIRD 2 and FRR (bgpd + zebra)
// installing them into their namespace's kernel, a plain gobgpd of the
// version the agent embeds, which installs nothing (the GoBGP receive
// floor: its RIB counted through its API), and the same gobgpd built from
// the agent's own GoBGP, patches and all (e2e/cmd/gobgpd-patched, same
// config): the engine the agent embeds, alone.
const (
	dutNetns = "lab-benchdut"
	dutPort  = "vbdut" // its veth end on the fabric bridge
	dutASN   = 65200
	// Kernel route protocols (rtnetlink.h, rt_protos): BIRD's and zebra's
	// for routes learned over BGP.
	protoBird = 12
	protoBGP  = 186
	// anchorStopTimeout bounds a daemon's exit after SIGTERM; then SIGKILL.
	anchorStopTimeout = 10 * time.Second
	// patchedPprof is gobgpd-patched's pprof with -profile, inside dutNetns.
	patchedPprof = "127.0.0.1:6060"
)

// dutAddr is the anchors' address on the lab's node subnet.
var dutAddr = netip.MustParsePrefix("10.199.1.101/24")

// anchorNames are the anchors in the order they run, as -anchors names them.
var anchorNames = []string{"bird", "frr", "gobgpd", "gobgpd-patched", "gobgpd-zebra"}

// anchorResult is one anchor's figures.
type anchorResult struct {
	name              string // as printed
	install, withdraw convergence
	peakKiB           int // the sum of its processes' VmHWM
	// The largest of its RSS samples (its processes summed) and the
	// measure it fell in.
	peakSample rssSample
	peakPhase  string
	// CPU seconds of its processes over each measure, as the agent's.
	installCPU, withdrawCPU float64
	kernel                  bool // it installs into the kernel; else RIB only
}

// anchorDaemon is one process of an anchor, started in dutNetns.
type anchorDaemon struct {
	name string
	cmd  *exec.Cmd
}

func (b *bench) measureAnchors(ctx context.Context, res *results) error {
	if len(b.o.anchors) == 0 {
		return nil
	}
	// The agent's injector goes first: the anchors' own sits on the same
	// address.
	if b.injector != nil {
		if err := b.injector.stop(); err != nil {
			return err
		}
		b.injector = nil
	}
	b.step("namespace %s: %s on %s, for the anchors", dutNetns, dutAddr, fabricBridge)
	if err := addFabricNetns(ctx, dutNetns, dutPort, dutAddr); err != nil {
		return err
	}
	for _, name := range b.o.anchors {
		r, err := b.measureAnchor(ctx, name)
		if err != nil {
			return fmt.Errorf("anchor %s: %w", name, err)
		}
		res.anchors = append(res.anchors, r)
	}
	return nil
}

func (b *bench) measureAnchor(ctx context.Context, name string) (r anchorResult, err error) {
	dir := filepath.Join(b.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	var daemons []*anchorDaemon
	defer func() {
		for _, d := range daemons {
			err = errors.Join(err, d.stop())
		}
		if err != nil {
			for _, d := range daemons {
				printTail(name+" "+d.name, filepath.Join(dir, d.name+".log"))
			}
		}
	}()
	var c counter
	// With -profile, gobgpd-patched's heap is profiled as the agent's is.
	prof := &profiler{}
	switch name {
	case "bird":
		r.name, r.kernel = "BIRD "+birdVersion(ctx), true
		if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(birdConfig()), 0o644); err != nil {
			return r, err
		}
		d, err := startDaemon(dir, "bird", "bird", "-f", "-c", filepath.Join(dir, "bird.conf"), "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "bird.pid"))
		if err != nil {
			return r, err
		}
		daemons = append(daemons, d)
	case "frr":
		r.name, r.kernel = "FRR "+frrVersion(ctx)+" (bgpd+zebra)", true
		zebra, err := startZebra(ctx, dir)
		if err != nil {
			return r, err
		}
		daemons = append(daemons, zebra)
		bgpd, err := startFRRDaemon(dir, "bgpd", frrBgpdConfig())
		if err != nil {
			return r, err
		}
		daemons = append(daemons, bgpd)
	case "gobgpd-zebra":
		// Plain GoBGP writing the kernel its own way: its zebra client
		// hands every best path to FRR's zebra, which installs it.
		r.name, r.kernel = "gobgpd "+gobgpdVersion(ctx, b.o.gobgpd)+" + zebra "+frrVersion(ctx), true
		zebra, err := startZebra(ctx, dir)
		if err != nil {
			return r, err
		}
		daemons = append(daemons, zebra)
		conf := filepath.Join(dir, "gobgpd.toml")
		if err := os.WriteFile(conf, []byte(gobgpdConfig()+gobgpdZebraConfig(filepath.Join(dir, "zserv.api"))), 0o644); err != nil {
			return r, err
		}
		d, err := startDaemon(dir, "gobgpd", b.o.gobgpd, plainGobgpdArgs(conf)...)
		if err != nil {
			return r, err
		}
		daemons = append(daemons, d)
	case "gobgpd", "gobgpd-patched":
		conf := filepath.Join(dir, "gobgpd.toml")
		if err := os.WriteFile(conf, []byte(gobgpdConfig()), 0o644); err != nil {
			return r, err
		}
		api := dutAPI.String()
		bin, args := b.o.gobgpd, plainGobgpdArgs(conf)
		if name == "gobgpd-patched" {
			bin, args = b.o.gobgpdPatched, []string{"-f", conf, "-api-hosts", api}
			if b.o.profile != "" {
				args = append(args, "-pprof", patchedPprof)
				prof = &profiler{dir: filepath.Join(b.o.profile, name), netns: dutNetns, url: "http://" + patchedPprof + "/debug/pprof/"}
			}
		}
		r.name = name + " " + gobgpdVersion(ctx, bin) + " (RIB only)"
		d, err := startDaemon(dir, name, bin, args...)
		if err != nil {
			return r, err
		}
		daemons = append(daemons, d)
		rc, err := newRIBCounter(api)
		if err != nil {
			return r, err
		}
		defer rc.Close()
		if err := rc.waitReady(ctx, sessionTimeout); err != nil {
			return r, err
		}
		c = rc
	default:
		return r, fmt.Errorf("unknown anchor (want one of %s)", strings.Join(anchorNames, ", "))
	}
	if c == nil {
		proto := protoBird
		if name == "frr" || name == "gobgpd-zebra" {
			proto = protoBGP
		}
		kc, err := newRouteCounter(dutNetns, injectedRange, proto)
		if err != nil {
			return r, err
		}
		defer kc.Close()
		c = kc
	}

	b.step("%s in %s: bgpinject peering with %s", r.name, dutNetns, dutAddr.Addr())
	inj, err := startInjector(injectorParams{
		Binary:   b.o.injector,
		Prefixes: filepath.Join(b.work, "prefixes"),
		Peer:     dutAddr.Addr().String(),
		PeerASN:  dutASN,
		Log:      filepath.Join(dir, "bgpinject.log"),
		Packed:   b.o.packed,
	})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, inj.stop()) }()
	if _, err := inj.expect(ctx, "ready", sessionTimeout); err != nil {
		return r, err
	}
	if _, err := inj.expect(ctx, "established", sessionTimeout); err != nil {
		return r, err
	}
	time.Sleep(settle) // as for the agent
	n := b.o.routes
	cpu := func() float64 {
		var s float64
		for _, d := range daemons {
			v, _ := lab.ProcCPUSeconds(d.cmd.Process.Pid)
			s += v
		}
		return s
	}
	var pids []int
	for _, d := range daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	cpu0 := cpu()
	rss := startRSSPeak("install", pids...)
	defer rss.end()
	b.step("%s: announce %d routes", r.name, n)
	stopHeaps := prof.heapsDuring(ctx, "during", time.Second)
	r.install, _, err = timeInjector(ctx, inj, c, "announce", "announced", 0, n, b.o.timeout, b.lastSent())
	stopHeaps()
	if err != nil {
		return r, fmt.Errorf("install: %w", err)
	}
	r.installCPU = cpu() - cpu0
	time.Sleep(settle)
	if err := prof.heap(ctx, "installed"); err != nil {
		return r, err
	}
	b.step("%s: withdraw %d routes", r.name, n)
	rss.setPhase("withdraw")
	cpu1 := cpu()
	stopHeaps = prof.heapsDuring(ctx, "withdrawing", time.Second)
	r.withdraw, _, err = timeInjector(ctx, inj, c, "withdraw", "withdrawn", n, 0, b.o.timeout, b.lastSent())
	stopHeaps()
	if err != nil {
		return r, fmt.Errorf("withdraw: %w", err)
	}
	r.withdrawCPU = cpu() - cpu1
	if r.peakSample, r.peakPhase, err = rss.end(); err != nil {
		return r, err
	}
	if err := prof.heap(ctx, "withdrawn"); err != nil {
		return r, err
	}
	for _, d := range daemons {
		kib, err := lab.ProcStatusKiB(d.cmd.Process.Pid, "VmHWM")
		if err != nil {
			return r, err
		}
		r.peakKiB += kib
	}
	return r, nil
}

// startDaemon starts one process of an anchor in dutNetns, its output in
// dir/name.log, in a process group of its own so a Ctrl-C reaches the bench
// only. `ip netns exec` execs the daemon, so the PID is the daemon's.
func startDaemon(dir, name, binary string, args ...string) (*anchorDaemon, error) {
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", dutNetns, binary}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &anchorDaemon{name: name, cmd: cmd}, nil
}

// stop ends the daemon by its PID: SIGTERM, then SIGKILL after
// anchorStopTimeout.
func (d *anchorDaemon) stop() error {
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(anchorStopTimeout):
	}
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s (pid %d): %w", d.name, d.cmd.Process.Pid, err)
	}
	<-exited
	return nil
}

func waitPath(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// birdConfig: one eBGP session importing everything, and the kernel
// protocol exporting every route into the main table (multipath merged, as
// the agent does). BIRD installs with protocol 12 ("bird").
func birdConfig() string {
	return fmt.Sprintf(`log stderr { info, remote, warning, error, auth, fatal, bug };
router id %[1]s;
protocol device { }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on;
}
protocol bgp injector {
	local %[1]s as %[2]d;
	neighbor %[3]s as %[4]d;
	ipv4 { import all; export none; };
}
`, dutAddr.Addr(), dutASN, injectorAddr.Addr(), injectorASN)
}

// frrBgpdConfig: one eBGP session, no policy (FRR would refuse eBGP routes
// without one otherwise); zebra installs with protocol 186 ("bgp").
func frrBgpdConfig() string {
	return fmt.Sprintf(`hostname bench-dut
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor %s remote-as %d
`, dutASN, dutAddr.Addr(), injectorAddr.Addr(), injectorASN)
}

// gobgpdConfig: the same session on a plain gobgpd with default settings.
func gobgpdConfig() string {
	return fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  local-address-list = [%q]
[[neighbors]]
  [neighbors.config]
    neighbor-address = %q
    peer-as = %d
`, dutASN, dutAddr.Addr(), dutAddr.Addr(), injectorAddr.Addr(), injectorASN)
}

// dutAPI is where the gobgpd anchors serve GoBGP's gRPC API.
var dutAPI = netip.AddrPortFrom(dutAddr.Addr(), 50051)

// plainGobgpdArgs runs the plain gobgpd with the TOML file conf.
func plainGobgpdArgs(conf string) []string {
	return []string{"-f", conf, "-t", "toml", "--api-hosts", dutAPI.String(), "--pprof-disable", "-p"}
}

// startZebra starts FRR's zebra in dir and waits for its ZAPI socket,
// dir/zserv.api, which its clients (bgpd, gobgpd) connect to once, at start.
func startZebra(ctx context.Context, dir string) (*anchorDaemon, error) {
	d, err := startFRRDaemon(dir, "zebra", "hostname bench-dut\n")
	if err != nil {
		return nil, err
	}
	if err := waitPath(ctx, filepath.Join(dir, "zserv.api"), 20*time.Second); err != nil {
		return nil, errors.Join(fmt.Errorf("zebra: %w", err), d.stop())
	}
	return d, nil
}

// startFRRDaemon starts FRR's daemon (zebra, bgpd) in dir with conf as its
// configuration, on dir's ZAPI socket.
func startFRRDaemon(dir, daemon, conf string) (*anchorDaemon, error) {
	if err := os.WriteFile(filepath.Join(dir, daemon+".conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startDaemon(dir, daemon, "/usr/lib/frr/"+daemon,
		"-u", "root", "-g", "frrvty", "-f", filepath.Join(dir, daemon+".conf"),
		"-i", filepath.Join(dir, daemon+".pid"), "-z", filepath.Join(dir, "zserv.api"),
		"--vty_socket", dir, "--log", "stdout")
}

// gobgpdZebraConfig has gobgpd hand its best paths to the zebra at sock:
// ZAPI 6 as FRR 8.2 speaks it, the newest GoBGP v3.37.0 knows (FRR 8.4's
// zebra speaks ZAPI 6 too).
func gobgpdZebraConfig(sock string) string {
	return fmt.Sprintf(`[zebra]
  [zebra.config]
    enabled = true
    url = "unix:%s"
    version = 6
    software-name = "frr8.2"
`, sock)
}

func birdVersion(ctx context.Context) string {
	out, _ := run(ctx, "bird", "--version")
	// "BIRD version 2.0.12"
	if f := strings.Fields(out); len(f) >= 3 {
		return f[2]
	}
	return "?"
}

func frrVersion(ctx context.Context) string {
	out, _ := run(ctx, "/usr/lib/frr/bgpd", "--version")
	// "bgpd version 8.4.4"
	if f := strings.Fields(out); len(f) >= 3 {
		return f[2]
	}
	return "?"
}

func gobgpdVersion(ctx context.Context, bin string) string {
	out, _ := run(ctx, bin, "--version")
	// "gobgpd version 3.37.0", "gobgpd-patched version 3.37.0 (./third_party/gobgp)"
	if f := strings.Fields(out); len(f) >= 3 {
		return f[2]
	}
	return "?"
}

// ribCounter counts the IPv4 unicast destinations of a gobgpd's global RIB
// through its gRPC API (GetTable: a count, no paths listed).
type ribCounter struct {
	addr string
	conn *grpc.ClientConn
	cli  api.GobgpApiClient
}

func newRIBCounter(addr string) (*ribCounter, error) {
	conn, err := grpc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("gobgpd API %s: %w", addr, err)
	}
	return &ribCounter{addr: addr, conn: conn, cli: api.NewGobgpApiClient(conn)}, nil
}

func (c *ribCounter) Count() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.cli.GetTable(ctx, &api.GetTableRequest{
		TableType: api.TableType_GLOBAL,
		Family:    &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
	})
	if err != nil {
		return 0, fmt.Errorf("gobgpd API %s: counting the RIB: %w", c.addr, err)
	}
	return int(resp.GetNumDestination()), nil
}

// waitReady waits until the API answers a count. gobgpd binds it in the
// background, and a fast session (bgpinject -packed dials at once) can be up
// before it is: the first count of the install would meet a refused
// connection.
func (c *ribCounter) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Count()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Holds asks gobgpd for p's paths in its global RIB (ListPath with the
// prefix: one destination looked up, where a count walks them all).
func (c *ribCounter) Holds(p netip.Prefix) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := c.cli.ListPath(ctx, &api.ListPathRequest{
		TableType: api.TableType_GLOBAL,
		Family:    &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		Prefixes:  []*api.TableLookupPrefix{{Prefix: p.String()}},
	})
	if err != nil {
		return false, fmt.Errorf("gobgpd API %s: looking up %s: %w", c.addr, p, err)
	}
	held := false
	for {
		d, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return held, nil
		}
		if err != nil {
			return false, fmt.Errorf("gobgpd API %s: looking up %s: %w", c.addr, p, err)
		}
		held = held || len(d.GetDestination().GetPaths()) > 0
	}
}

func (c *ribCounter) String() string { return "gobgpd's RIB at " + c.addr }
func (c *ribCounter) Close() error   { return c.conn.Close() }

// parseAnchors reads -anchors: a comma-separated list of anchorNames, or
// "none".
func parseAnchors(s string) ([]string, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		ok := false
		for _, known := range anchorNames {
			ok = ok || name == known
		}
		if !ok {
			return nil, fmt.Errorf("-anchors: %q is not an anchor (want a list of %s, or none)", name, strings.Join(anchorNames, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}
