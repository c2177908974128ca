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
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

const monitoringDir = "daemonset/overlays/monitoring"

// TestMonitoring checks the shipped alerts and dashboard for real: promtool
// checks and unit-tests the rules, every metric the rules and the
// dashboard name is one the lab's agents export (read from their live
// /metrics), and Debian's Prometheus scraping an agent fires
// NodeBGPSessionDown when a peer's agent stops and resolves it when it
// returns.
func TestMonitoring(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 10*time.Minute)
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

	suite.Step(t, "03 Prometheus fires NodeBGPSessionDown when a peer's agent stops and resolves it when it returns", func(t *testing.T) {
		watcher, down := l.Nodes[0], l.Nodes[1]
		prom := startPrometheus(t, watcher, dir, rules)
		alert := func() (string, error) { return alertState(ctx, watcher, prom, "NodeBGPSessionDown", down.IP.String()) }
		e2eutil.Eventually(t, time.Minute, time.Second, "Prometheus scraping "+watcher.Name+"'s agent", func() error {
			_, body, err := e2eutil.HTTPGetIn(ctx, watcher.Netns, prom+"/api/v1/query?query=nodebgp_bgp_session_up")
			if err != nil || !strings.Contains(body, down.IP.String()) {
				return fmt.Errorf("%v: %s", err, body)
			}
			return nil
		})
		if st, err := alert(); err != nil || st != "" {
			t.Fatalf("alert before anything broke: %q %v", st, err)
		}
		if err := l.Agents.Stop(down); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = l.Agents.Start(down)
			}
		})
		// for: 1m in the rule, a 5 s scrape and evaluation interval.
		took := e2eutil.Eventually(t, 3*time.Minute, 2*time.Second, "NodeBGPSessionDown firing", func() error {
			st, err := alert()
			if err != nil || st != "firing" {
				return fmt.Errorf("state %q, %v", st, err)
			}
			return nil
		})
		t.Logf("NodeBGPSessionDown fired %s after %s's agent stopped", took.Round(time.Second), down.Name)
		if err := l.Agents.Start(down); err != nil {
			t.Fatal(err)
		}
		restarted = true
		took = e2eutil.Eventually(t, 3*time.Minute, 2*time.Second, "NodeBGPSessionDown resolved", func() error {
			st, err := alert()
			if err != nil || st != "" {
				return fmt.Errorf("state %q, %v", st, err)
			}
			return nil
		})
		t.Logf("NodeBGPSessionDown resolved %s after the agent came back", took.Round(time.Second))
	})
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
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", node.Netns, "prometheus",
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		if t.Failed() {
			if raw, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("prometheus log:\n%s", raw)
			}
		}
	})
	return "http://" + addr
}

// alertState is the state of alert about peer ("pending", "firing"), ""
// when it is not active.
func alertState(ctx context.Context, node *lab.Node, prom, alert, peer string) (string, error) {
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
	for _, a := range resp.Data.Alerts {
		if a.Labels["alertname"] == alert && a.Labels["peer"] == peer {
			states = append(states, a.State)
		}
	}
	slices.Sort(states)
	return strings.Join(states, ","), nil
}
