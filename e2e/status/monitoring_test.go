//go:build e2e

package status

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/status"
)

const monitoringDir = "daemonset/overlays/monitoring"

// TestMonitoring checks the shipped alerts and dashboard for real: promtool
// checks and unit-tests the rules, every metric the rules and the
// dashboard name is one the lab's agents export (read from their live
// /metrics), and Debian's Prometheus scraping an agent fires every alert
// from a real fault and resolves it when the fault is gone: a peer's agent
// stopped (NodeBGPSessionDown), the node isolated (NodeBGPNoSessionEstablished,
// NodeBGPAgentNotReady), a route the kernel refuses (NodeBGPRouteSyncFailing,
// NodeBGPAgentNotReady), a peer router over its prefix limit
// (NodeBGPPrefixLimitHit).
func TestMonitoring(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 20*time.Minute)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: hack/install-deps.sh installs Debian's prometheus package")
	}
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	groups := ruleGroups(t, filepath.Join(root, monitoringDir, "prometheusrule.yaml"))
	writeYAML(t, rules, map[string]any{"groups": groups})

	suite.Step(t, "01 promtool checks and unit-tests the rules", func(t *testing.T) {
		e2eutil.MustRun(ctx, t, promtool, "check", "rules", rules)
		tests, err := os.ReadFile(filepath.Join(root, monitoringDir, "monitoring-tests.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		testsPath := filepath.Join(dir, "tests.yaml")
		if err := os.WriteFile(testsPath, []byte(strings.ReplaceAll(string(tests), "[RULES]", "["+rules+"]")), 0o644); err != nil {
			t.Fatal(err)
		}
		e2eutil.MustRun(ctx, t, promtool, "test", "rules", testsPath)
	})

	suite.Step(t, "02 every metric the rules and the dashboard name is exported", func(t *testing.T) {
		exported := map[string]bool{}
		for _, node := range l.Nodes {
			for _, line := range strings.Split(metrics(ctx, t, node), "\n") {
				if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
					exported[strings.Fields(name)[0]] = true
				}
			}
		}
		var exprs []string
		for _, g := range groups {
			for _, r := range g["rules"].([]any) {
				exprs = append(exprs, r.(map[string]any)["expr"].(string))
			}
		}
		raw, err := os.ReadFile(filepath.Join(root, monitoringDir, "nodebgp-dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("dashboard: %v", err)
		}
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		named := 0
		for _, e := range exprs {
			for _, m := range regexp.MustCompile(`nodebgp_[a-z0-9_]+`).FindAllString(e, -1) {
				named++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !exported[m] && !exported[base] {
					t.Errorf("%q names %s, which no agent exports", e, m)
				}
			}
		}
		if named < 10 {
			t.Errorf("only %d metric names found in the rules and the dashboard", named)
		}
	})

	// The live steps run one Prometheus in the watcher's namespace, scraping
	// its agent, with a test copy of the rules: the same expressions, but
	// every `for:` cut to 10s and every range ([5m]) to [30s]. With the
	// shipped durations (1m to 5m, and a 5m window that must empty before
	// NodeBGPRouteSyncFailing resolves) the five alerts would take over half
	// an hour to fire and resolve; the shipped durations are checked by
	// promtool's unit tests in step 01.
	fast := filepath.Join(dir, "rules-fast.yaml")
	writeYAML(t, fast, map[string]any{"groups": shortened(groups)})
	e2eutil.MustRun(ctx, t, promtool, "check", "rules", fast)
	watcher := l.Nodes[0]
	prom := startPrometheus(t, watcher, dir, fast)
	e2eutil.Eventually(t, time.Minute, time.Second, "Prometheus scraping "+watcher.Name+"'s agent", func() error {
		_, body, err := e2eutil.HTTPGetIn(ctx, watcher.Netns, prom+"/api/v1/query?query=nodebgp_bgp_session_up")
		if err != nil || !strings.Contains(body, l.Nodes[1].IP.String()) {
			return fmt.Errorf("%v: %s", err, body)
		}
		return nil
	})
	// fires waits until each alert fires, resolved until none is active;
	// both log the time since the fault (or the fix) at began.
	fires := func(t *testing.T, began time.Time, why string, alerts ...alertMatch) {
		t.Helper()
		for _, a := range alerts {
			e2eutil.Eventually(t, 2*time.Minute, 2*time.Second, a.String()+" firing", func() error {
				if st, err := alertState(ctx, watcher, prom, a); err != nil || st != "firing" {
					return fmt.Errorf("state %q, %v", st, err)
				}
				return nil
			})
			t.Logf("%s firing %s after %s", a, time.Since(began).Round(time.Second), why)
		}
	}
	resolved := func(t *testing.T, began time.Time, why string, alerts ...alertMatch) {
		t.Helper()
		for _, a := range alerts {
			e2eutil.Eventually(t, 2*time.Minute, 2*time.Second, a.String()+" resolved", func() error {
				if st, err := alertState(ctx, watcher, prom, a); err != nil || st != "" {
					return fmt.Errorf("state %q, %v", st, err)
				}
				return nil
			})
			t.Logf("%s resolved %s after %s", a, time.Since(began).Round(time.Second), why)
		}
	}
	quiet := func(t *testing.T, alerts ...alertMatch) {
		t.Helper()
		for _, a := range alerts {
			if st, err := alertState(ctx, watcher, prom, a); err != nil || st != "" {
				t.Fatalf("%s before anything broke: %q %v", a, st, err)
			}
		}
	}
	notReady := alertMatch{name: "NodeBGPAgentNotReady"}
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// healthy waits until the lab is whole again after the step before:
	// every node's object healthy, both sessions and BFD up.
	healthy := func(t *testing.T) {
		t.Helper()
		for _, n := range l.Nodes {
			e2eutil.Eventually(t, time.Minute, time.Second, n.Name+"'s BGPNodeState healthy", func() error {
				return checkHealthy(ctx, l, admin, n)
			})
		}
	}

	suite.Step(t, "03 Prometheus fires NodeBGPSessionDown when a peer's agent stops and resolves it when it returns", func(t *testing.T) {
		down := l.Nodes[1]
		alert := alertMatch{name: "NodeBGPSessionDown", peer: down.IP.String()}
		quiet(t, alert)
		began := time.Now()
		if err := l.Agents.Stop(down); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = l.Agents.Start(down)
			}
		})
		fires(t, began, down.Name+"'s agent stopped", alert)
		began = time.Now()
		if err := l.Agents.Start(down); err != nil {
			t.Fatal(err)
		}
		restarted = true
		resolved(t, began, "the agent came back", alert)
	})

	suite.Step(t, "04 an isolated node fires NodeBGPNoSessionEstablished and NodeBGPAgentNotReady, resolved when its link returns", func(t *testing.T) {
		noSession := alertMatch{name: "NodeBGPNoSessionEstablished"}
		healthy(t)
		quiet(t, noSession, notReady)
		t.Cleanup(func() { _ = uplink(context.Background(), watcher, true) })
		// Prometheus scrapes the agent on the namespace's loopback, which
		// the node keeps; BFD takes both sessions down within a second.
		began := time.Now()
		if err := uplink(ctx, watcher, false); err != nil {
			t.Fatal(err)
		}
		fires(t, began, watcher.Name+"'s uplink went down", noSession, notReady)
		began = time.Now()
		if err := uplink(ctx, watcher, true); err != nil {
			t.Fatal(err)
		}
		resolved(t, began, "the uplink came back", noSession, notReady)
	})

	suite.Step(t, "05 a route the kernel refuses fires NodeBGPRouteSyncFailing and NodeBGPAgentNotReady, resolved once it takes it", func(t *testing.T) {
		syncFailing := alertMatch{name: "NodeBGPRouteSyncFailing"}
		healthy(t)
		quiet(t, syncFailing, notReady)
		peer := l.Nodes[1]
		// A policy rule that makes the kernel refuse any route via peer's
		// address on eth0 ("Nexthop has invalid gateway": the kernel checks a
		// gateway with a FIB lookup whose output interface is the route's),
		// while traffic to peer (no output interface chosen: BGP, BFD, the
		// pods' packets) still goes through. Then the route to peer's pods
		// is deleted by hand: each repair pass tries to add it back, fails,
		// and counts the failure. Only this namespace's rules change.
		rule := []string{"-n", watcher.Netns, "rule", "add", "pref", "50", "to", peer.IP.String(), "oif", "eth0", "unreachable"}
		if _, err := e2eutil.Run(ctx, "ip", rule...); err != nil {
			t.Fatal(err)
		}
		ruleOn := true
		dropRule := func(ctx context.Context) error {
			_, err := e2eutil.Run(ctx, "ip", "-n", watcher.Netns, "rule", "del", "pref", "50", "to", peer.IP.String(), "oif", "eth0", "unreachable")
			return err
		}
		t.Cleanup(func() {
			if ruleOn {
				_ = dropRule(context.Background())
			}
		})
		began := time.Now()
		if _, err := e2eutil.Run(ctx, "ip", "-n", watcher.Netns, "route", "del", peer.PodCIDR.String()); err != nil {
			t.Fatal(err)
		}
		fires(t, began, "the kernel began refusing the route to "+peer.PodCIDR.String(), syncFailing, notReady)
		o, _, err := getState(ctx, admin, watcher.Name)
		if err != nil || o == nil {
			t.Fatalf("%s's BGPNodeState: %v", watcher.Name, err)
		}
		if c := condition(o.Status, status.RoutesProgrammed); c.Status != "False" || c.Reason != "SyncFailed" {
			t.Errorf("%s's RoutesProgrammed = %+v while its route sync fails", watcher.Name, c)
		} else {
			t.Logf("%s's BGPNodeState says RoutesProgrammed=False: %s", watcher.Name, c.Message)
		}
		if o.Status.SessionSummary != "2/2" {
			t.Errorf("sessions %s: the fault was meant for the kernel's routes only", o.Status.SessionSummary)
		}
		began = time.Now()
		if err := dropRule(ctx); err != nil {
			t.Fatal(err)
		}
		ruleOn = false
		e2eutil.Eventually(t, 30*time.Second, time.Second, peer.PodCIDR.String()+" back in "+watcher.Name+"'s kernel", func() error {
			got, err := e2eutil.KernelRoutes(ctx, watcher.Netns)
			if err != nil {
				return err
			}
			if _, ok := got[peer.PodCIDR]; !ok {
				return fmt.Errorf("not yet: %v", got)
			}
			return nil
		})
		resolved(t, began, "the rule was removed and the kernel took the route (the [30s] window emptied)", syncFailing, notReady)
	})

	suite.Step(t, "06 a peer router sending more prefixes than its limit fires NodeBGPPrefixLimitHit, resolved when the limit is raised", func(t *testing.T) {
		healthy(t)
		bird := startBIRD(ctx, t, l, watcher, dir, birdRoutes)
		alert := alertMatch{name: "NodeBGPPrefixLimitHit", peer: bird.String()}
		quiet(t, alert)
		const key = "nodebgp.io/peers"
		annotate := func(limit int) {
			t.Helper()
			v := fmt.Sprintf(`[{"address":%q,"asn":%d,"maxPrefixes":%d}]`, bird, birdASN, limit)
			if err := e2eutil.Annotate(ctx, l, watcher, key, &v); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s=%s", watcher.Name, key, v)
		}
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e2eutil.Annotate(cctx, l, watcher, key, nil); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		began := time.Now()
		annotate(len(birdRoutes) - 1)
		fires(t, began, fmt.Sprintf("BIRD sent %d prefixes for a limit of %d", len(birdRoutes), len(birdRoutes)-1), alert)
		began = time.Now()
		annotate(len(birdRoutes) + 10)
		resolved(t, began, "the limit was raised", alert)
		e2eutil.Eventually(t, 30*time.Second, time.Second, watcher.Name+"'s session with BIRD established", func() error {
			if v := metricLabels(ctx, t, watcher, "nodebgp_bgp_session_up", fmt.Sprintf(`kind="upstream",peer=%q`, bird.String())); v != 1 {
				return fmt.Errorf("nodebgp_bgp_session_up = %v", v)
			}
			return nil
		})
	})
}

// shortened is a copy of groups with every `for:` cut to 10s and every
// range selector to [30s], expressions otherwise unchanged (see above).
func shortened(groups []map[string]any) []map[string]any {
	raw, err := json.Marshal(groups)
	if err != nil {
		panic(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	ranges := regexp.MustCompile(`\[[0-9]+[smh]\]`)
	for _, g := range out {
		for _, r := range g["rules"].([]any) {
			rule := r.(map[string]any)
			if _, ok := rule["for"]; ok {
				rule["for"] = "10s"
			}
			rule["expr"] = ranges.ReplaceAllString(rule["expr"].(string), "[30s]")
		}
	}
	return out
}

// ruleGroups is spec.groups of the PrometheusRule manifest.
func ruleGroups(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &pr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pr.Spec.Groups
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startPrometheus runs Debian's Prometheus in node's namespace, scraping the
// node's agent every 5 s with the shipped rules; it is stopped by PID when
// the test ends. It returns its base URL inside that namespace.
func startPrometheus(t *testing.T, node *lab.Node, dir, rules string) string {
	t.Helper()
	cfg := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, cfg, map[string]any{
		"global":     map[string]any{"scrape_interval": "5s", "evaluation_interval": "5s"},
		"rule_files": []string{rules},
		"scrape_configs": []any{map[string]any{
			"job_name":       "nodebgp",
			"static_configs": []any{map[string]any{"targets": []string{"127.0.0.1:9779"}, "labels": map[string]string{"node": node.Name}}},
		}},
	})
	const addr = "127.0.0.1:19090"
	startInNetns(t, dir, "prometheus", node.Netns, nil, "prometheus",
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	return "http://" + addr
}

// startInNetns runs args in netns as a lab process (output in
// lab.LogPath(dir, name)), stopped by PID when the test ends; on a failure
// its output and the files in alsoLog are printed.
func startInNetns(t *testing.T, dir, name, netns string, alsoLog []string, args ...string) {
	t.Helper()
	p, err := lab.StartProcess(lab.ProcessParams{Name: name, Dir: dir, Netns: netns, Args: args})
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
		if t.Failed() {
			for _, f := range append([]string{p.LogPath}, alsoLog...) {
				if raw, err := os.ReadFile(f); err == nil {
					t.Logf("%s:\n%s", f, raw)
				}
			}
		}
	})
}

// alertMatch names an alert, and the peer it is about when it has one.
type alertMatch struct{ name, peer string }

func (a alertMatch) String() string {
	if a.peer == "" {
		return a.name
	}
	return a.name + "{peer=" + a.peer + "}"
}

// alertState is the state of the alert ("pending", "firing"), "" when it is
// not active.
func alertState(ctx context.Context, node *lab.Node, prom string, a alertMatch) (string, error) {
	code, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, prom+"/api/v1/alerts")
	if err != nil || code != 200 {
		return "", fmt.Errorf("alerts: %d %v", code, err)
	}
	var resp struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return "", err
	}
	var states []string
	for _, al := range resp.Data.Alerts {
		if al.Labels["alertname"] == a.name && (a.peer == "" || al.Labels["peer"] == a.peer) {
			states = append(states, al.State)
		}
	}
	slices.Sort(states)
	return strings.Join(states, ","), nil
}
