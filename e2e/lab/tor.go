package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A ToR is a real third-party router: FRR's bgpd and zebra in their own
// namespace, with a leg in every rack, routing between the racks and peering
// eBGP with the nodes. Each ToR is its own FRR instance (config, pid files,
// zserv and vty sockets under <lab dir>/torT), so several run side by side
// without touching the system's /etc/frr and /var/run/frr.
const (
	// ToRASN is every ToR's AS; the nodes are external to it.
	ToRASN = 65000
	// ToRPeerGroup is the FRR peer group every node session belongs to;
	// ToRPeerGroup6 holds the IPv6 sessions of a dual-stack lab.
	ToRPeerGroup  = "NODES"
	ToRPeerGroup6 = "NODES6"

	frrZebra = "/usr/lib/frr/zebra"
	frrBgpd  = "/usr/lib/frr/bgpd"
	frrVtysh = "vtysh"
	// frrVtyGroup is the group FRR's daemons insist their user belongs to.
	// Running as root with this group passes that check without changing
	// the machine's users.
	frrVtyGroup = "frrvty"

	torStartTimeout = 20 * time.Second
	torStopTimeout  = 10 * time.Second
	vtyshTimeout    = 10 * time.Second
	// maxSocketPath is the room sun_path leaves for a unix socket's path.
	maxSocketPath = 107
)

// ToR is one lab ToR, a router in its own namespace with a leg in every
// rack. Its methods are what an operator does on the switch: Vtysh (any
// command), Neighbors and BGPTable (its view, parsed), Announce and
// Withdraw (a network statement), Restart (bgpd crashes and comes back),
// Log (bgpd's log).
type ToR struct {
	Number   int
	Name     string       // its network namespace, lab-torT
	RouterID netip.Addr   // its address in rack 1
	Addrs    []netip.Addr // its address in each rack, rack 1 first
	Addrs6   []netip.Addr // its IPv6 address in each rack in a dual-stack lab
	Dir      string       // config, pid files and sockets of its FRR instance

	procs Processes // its zebra and bgpd
}

// ToRName is the network namespace of ToR t.
func ToRName(t int) string { return fmt.Sprintf("lab-tor%d", t) }

// torLeg is ToR t's interface in rack r, inside the ToR's namespace.
func torLeg(r int) string { return fmt.Sprintf("rack%d", r) }

// torPort is the fabric end of ToR t's leg in rack r.
func torPort(t, r int) string { return fmt.Sprintf("vtor%dr%d", t, r) }

// newToRs are the ToRs of a lab with opts.
func newToRs(opts Options) []*ToR {
	var tors []*ToR
	for t := 1; t <= opts.ToRs; t++ {
		tor := &ToR{
			Number:   t,
			Name:     ToRName(t),
			RouterID: ToRAddr(t, 1),
			Dir:      filepath.Join(opts.Dir, fmt.Sprintf("tor%d", t)),
			procs:    Processes{Dir: opts.Dir},
		}
		for r := 1; r <= opts.Racks; r++ {
			tor.Addrs = append(tor.Addrs, ToRAddr(t, r))
			if opts.DualStack {
				tor.Addrs6 = append(tor.Addrs6, ToRAddr6(t, r))
			}
		}
		tors = append(tors, tor)
	}
	return tors
}

func (t *ToR) zebraProcess() string { return "frr-" + t.Name + "-zebra" }
func (t *ToR) bgpdProcess() string  { return "frr-" + t.Name + "-bgpd" }
func (t *ToR) zservPath() string    { return filepath.Join(t.Dir, "zserv.api") }

// ensureToR builds the ToR's namespace and legs and runs its FRR: zebra
// first (bgpd installs its routes through it), then bgpd. A running instance
// is kept; if its bgpd config changed, bgpd is restarted to read it.
func (tor *ToR) ensure(ctx context.Context, peers []torPeer) error {
	if err := checkFRR(); err != nil {
		return err
	}
	if err := ensureToRNetwork(ctx, tor); err != nil {
		return err
	}
	if err := os.MkdirAll(tor.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", tor.Dir, err)
	}
	if p := filepath.Join(tor.Dir, "bgpd.vty"); len(p) > maxSocketPath {
		return fmt.Errorf("socket path %s is longer than %d bytes: use a shorter lab dir", p, maxSocketPath)
	}
	if err := writeFileAtomic(filepath.Join(tor.Dir, "zebra.conf"), []byte(renderZebraConfig(tor))); err != nil {
		return err
	}
	bgpConf := []byte(renderBgpdConfig(tor, peers))
	bgpPath := filepath.Join(tor.Dir, "bgpd.conf")
	old, _ := os.ReadFile(bgpPath)
	if err := writeFileAtomic(bgpPath, bgpConf); err != nil {
		return err
	}
	if !tor.procs.Running(tor.zebraProcess()) {
		if err := tor.startFRR(tor.zebraProcess(), frrZebra, "zebra.conf"); err != nil {
			return err
		}
		if err := waitFile(ctx, tor.zservPath(), torStartTimeout); err != nil {
			return fmt.Errorf("zebra did not open its socket (log %s): %w", tor.procs.Log(tor.zebraProcess()), err)
		}
	}
	if tor.procs.Running(tor.bgpdProcess()) && string(old) == string(bgpConf) {
		return nil
	}
	return tor.restartBgpd(ctx)
}

// Restart restarts the ToR's bgpd the way a crash or a hard process
// restart does: SIGKILL, then start. With graceful restart configured, bgpd
// has told zebra to keep its routes if it goes away, so the ToR keeps
// forwarding on them (as a switch keeps its hardware table through a
// control-plane restart) and the nodes, as helpers, keep the ToR's routes
// as stale until it is back. A SIGTERM would not do: bgpd then shuts down
// cleanly and withdraws its routes from zebra, and traffic between racks
// stops until the sessions are back (about 6 s in this lab).
func (tor *ToR) Restart(ctx context.Context) error {
	err := tor.procs.Kill(tor.bgpdProcess())
	if err == nil {
		err = tor.startFRR(tor.bgpdProcess(), frrBgpd, "bgpd.conf")
	}
	if err == nil {
		err = tor.waitBgpd(ctx)
	}
	if err != nil {
		return fmt.Errorf("ToR %s: restarting bgpd: %w", tor.Name, err)
	}
	return nil
}

// restartBgpd stops bgpd cleanly and starts it again, to read a changed
// config.
func (tor *ToR) restartBgpd(ctx context.Context) error {
	if err := tor.procs.Stop(tor.bgpdProcess(), torStopTimeout); err != nil {
		return err
	}
	if err := tor.startFRR(tor.bgpdProcess(), frrBgpd, "bgpd.conf"); err != nil {
		return err
	}
	return tor.waitBgpd(ctx)
}

// startFRR starts one FRR daemon of tor's instance in the foreground, logging
// to stdout (the lab's log file), with every path inside tor.Dir.
func (tor *ToR) startFRR(name, binary, config string) error {
	if _, err := tor.procs.Start(name, tor.Name, frrArgs(binary, tor.Dir, config)...); err != nil {
		return fmt.Errorf("ToR %s: %w", tor.Name, err)
	}
	return nil
}

func frrArgs(binary, dir, config string) []string {
	daemon := filepath.Base(binary)
	return []string{
		binary,
		"-u", "root", "-g", frrVtyGroup,
		"-f", filepath.Join(dir, config),
		"-i", filepath.Join(dir, daemon+".pid"),
		"-z", filepath.Join(dir, "zserv.api"),
		"--vty_socket", dir,
		"--log", "stdout",
	}
}

// waitBgpd waits until bgpd answers on its vty socket.
func (tor *ToR) waitBgpd(ctx context.Context) error {
	deadline := time.Now().Add(torStartTimeout)
	for {
		_, err := tor.Vtysh(ctx, "show bgp summary json")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bgpd does not answer within %s (log %s): %w",
				torStartTimeout, tor.Log(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Vtysh runs vtysh commands against the ToR's own FRR instance, one -c
// each, as an operator on the switch would. FRR reports a refused command
// with a line starting with "%", sometimes with exit status 0; both are errors.
func (tor *ToR) Vtysh(ctx context.Context, cmds ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, vtyshTimeout)
	defer cancel()
	args := []string{"--vty_socket", tor.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := runCommand(ctx, frrVtysh, args...)
	if err != nil {
		return out, fmt.Errorf("ToR %s: %w", tor.Name, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "% ") {
			return out, fmt.Errorf("ToR %s: vtysh %s: %s", tor.Name, strings.Join(cmds, " / "), strings.TrimSpace(line))
		}
	}
	return out, nil
}

// stopFRR stops every ToR daemon recorded in dir's pid files.
func stopFRR(dir string) error {
	pids, _ := filepath.Glob(filepath.Join(dir, pidsDir, "frr-*.pid"))
	var errs []error
	for _, pidFile := range pids {
		if err := StopByName(dir, strings.TrimSuffix(filepath.Base(pidFile), ".pid"), torStopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensureToRNetwork gives the ToR its namespace, a leg with its address (or
// addresses, dual-stack) in every rack, and IP forwarding.
func ensureToRNetwork(ctx context.Context, tor *ToR) error {
	if err := ensureNetns(ctx, tor.Name); err != nil {
		return err
	}
	for i, addr := range tor.Addrs {
		r := i + 1
		leg, port := torLeg(r), torPort(tor.Number, r)
		if linkExists(ctx, FabricNetns, port) != linkExists(ctx, tor.Name, leg) {
			_, _ = ip(ctx, FabricNetns, "link", "del", port)
			_, _ = ip(ctx, tor.Name, "link", "del", leg)
		}
		if !linkExists(ctx, FabricNetns, port) {
			if _, err := ip(ctx, FabricNetns, "link", "add", port, "type", "veth", "peer", "name", leg, "netns", tor.Name); err != nil {
				return fmt.Errorf("creating veth %s/%s for %s: %w", port, leg, tor.Name, err)
			}
		}
		steps := [][]string{
			{FabricNetns, "link", "set", port, "master", rackBridge(r)},
			{FabricNetns, "link", "set", port, "up"},
			{tor.Name, "addr", "replace", netip.PrefixFrom(addr, RackPrefix(r).Bits()).String(), "dev", leg},
			{tor.Name, "link", "set", leg, "up"},
		}
		if len(tor.Addrs6) > 0 {
			// nodad: see ensureNodeIP6.
			steps = append(steps, []string{tor.Name, "-6", "addr", "replace",
				netip.PrefixFrom(tor.Addrs6[i], RackPrefix6(r).Bits()).String(), "dev", leg, "nodad"})
		}
		for _, s := range steps {
			if _, err := ip(ctx, s[0], s[1:]...); err != nil {
				return fmt.Errorf("wiring %s into rack %d: %w", tor.Name, r, err)
			}
		}
	}
	sysctls := []string{"net.ipv4.ip_forward=1"}
	if len(tor.Addrs6) > 0 {
		sysctls = append(sysctls, "net.ipv6.conf.all.forwarding=1")
	}
	for _, kv := range sysctls {
		if _, err := runCommand(ctx, "ip", "netns", "exec", tor.Name, "sysctl", "-qw", kv); err != nil {
			return fmt.Errorf("enabling forwarding in %s (%s): %w", tor.Name, kv, err)
		}
	}
	return nil
}

// checkFRR reports missing FRR binaries with the script that installs them.
func checkFRR() error {
	for _, b := range []string{frrZebra, frrBgpd} {
		if err := checkExecutable(b); err != nil {
			return fmt.Errorf("FRR missing (hack/install-deps.sh installs it): %w", err)
		}
	}
	return nil
}

// waitFile waits until path exists.
func waitFile(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !fileExists(path) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s does not exist after %s", path, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// Log is the path of the ToR's bgpd log. A node that connects through a
// listen range and is refused (wrong AS, bad password) leaves no neighbor
// behind on the ToR; its NOTIFICATIONs are only in this log
// ("%NOTIFICATION: received from neighbor 10.199.2.12 2/2 ...").
func (tor *ToR) Log() string { return tor.procs.Log(tor.bgpdProcess()) }

// dump writes the ToR's addresses, routes, BGP state and log tail.
func (tor *ToR) dump(ctx context.Context, w io.Writer) {
	for _, c := range [][]string{{"-br", "addr"}, {"route"}, {"-6", "route"}} {
		out, err := ip(ctx, tor.Name, c...)
		fmt.Fprintf(w, "=== %s: ip %s\n%s", tor.Name, strings.Join(c, " "), out)
		if err != nil {
			fmt.Fprintln(w, err)
		}
	}
	cmds := []string{"show bgp summary", "show bgp ipv4 unicast"}
	if len(tor.Addrs6) > 0 {
		cmds = append(cmds, "show bgp ipv6 unicast")
	}
	for _, c := range cmds {
		out, err := tor.Vtysh(ctx, c)
		fmt.Fprintf(w, "=== %s: vtysh -c '%s'\n%s", tor.Name, c, out)
		if err != nil {
			fmt.Fprintln(w, err)
		}
	}
	fmt.Fprintf(w, "=== %s: last lines of %s\n", tor.Name, tor.Log())
	if err := tail(w, tor.Log(), 40); err != nil {
		fmt.Fprintln(w, err)
	}
}
