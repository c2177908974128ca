//go:build e2e

package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/status"
)

const clusterASN = 64512

// TestStatus walks through what an operator sees, in order: every step
// leaves the lab as it found it.
func TestStatus(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 20*time.Minute)
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	agentClient, err := dynamicFor(l.Agents.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}

	suite.Step(t, "01 every node's BGPNodeState shows its identity, sessions, routes and conditions", func(t *testing.T) {
		// The CRD came after the agents: their first writes failed with
		// not-found and are retried with a backoff of at most 30 s.
		for _, node := range l.Nodes {
			e2eutil.Eventually(t, 90*time.Second, time.Second, node.Name+"'s BGPNodeState", func() error {
				return checkHealthy(ctx, l, admin, node)
			})
		}
	})

	suite.Step(t, "02 kubectl get bgpnodestates is the one-line view", func(t *testing.T) {
		out := e2eutil.MustRun(ctx, t, l.Tools.Kubectl, "--kubeconfig", l.CP.AdminKubeconfig, "get", "bgpnodestates")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"NAME", "ASN", "ROLE", "SESSIONS", "BFD", "ROUTES", "READY", "AGE"}) {
			t.Errorf("columns = %v\n%s", got, out)
		}
		for _, node := range l.Nodes {
			want := []string{node.Name, strconv.Itoa(clusterASN), "mesh", "2/2", "2/2", "2", "True"}
			if !slices.ContainsFunc(lines[1:], func(line string) bool {
				f := strings.Fields(line)
				return len(f) == 8 && slices.Equal(f[:7], want)
			}) {
				t.Errorf("no line %v in\n%s", want, out)
			}
		}
		t.Logf("\n%s", out)
	})

	suite.Step(t, "03 an idle lab writes no status", func(t *testing.T) {
		before := map[string]float64{}
		versions := map[string]string{}
		for _, node := range l.Nodes {
			before[node.Name] = metric(ctx, t, node, "nodebgp_status_writes_total")
			_, u, err := getState(ctx, admin, node.Name)
			if err != nil || u == nil {
				t.Fatalf("%s: %v", node.Name, err)
			}
			versions[node.Name] = u.GetResourceVersion()
		}
		if slices.Contains(valuesOf(before), 0) {
			t.Fatalf("an agent counts no status write at all: %v", before)
		}
		time.Sleep(4 * syncPeriod) // four node and route passes, four report periods
		for _, node := range l.Nodes {
			if after := metric(ctx, t, node, "nodebgp_status_writes_total"); after != before[node.Name] {
				t.Errorf("%s wrote its status %v times while nothing changed", node.Name, after-before[node.Name])
			}
			_, u, err := getState(ctx, admin, node.Name)
			if err != nil || u == nil {
				t.Fatalf("%s: %v", node.Name, err)
			}
			if u.GetResourceVersion() != versions[node.Name] {
				t.Errorf("%s's object changed (resourceVersion %s -> %s) while nothing changed", node.Name, versions[node.Name], u.GetResourceVersion())
			}
		}
	})

	suite.Step(t, "04 a session that goes down shows on its peers within seconds, and comes back", func(t *testing.T) {
		down := l.Nodes[2]
		if err := l.Agents.Stop(down); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = l.Agents.Start(down)
			}
		})
		began := time.Now()
		for _, node := range l.Nodes[:2] {
			e2eutil.Eventually(t, 20*time.Second, 250*time.Millisecond, node.Name+" shows its session with "+down.Name+" down", func() error {
				o, _, err := getState(ctx, admin, node.Name)
				if err != nil || o == nil {
					return fmt.Errorf("reading: %v", err)
				}
				c := condition(o.Status, status.PeersEstablished)
				if o.Status.SessionSummary != "1/2" || c.Status != "False" || !strings.Contains(c.Message, down.IP.String()) {
					return fmt.Errorf("sessions %s, %s %s: %s", o.Status.SessionSummary, c.Type, c.Status, c.Message)
				}
				if r := condition(o.Status, status.Ready); r.Status != "False" {
					return fmt.Errorf("Ready %s with a session down", r.Status)
				}
				return nil
			})
			t.Logf("%s showed the session down %s after the agent of %s stopped", node.Name, time.Since(began).Round(100*time.Millisecond), down.Name)
			body := metrics(ctx, t, l.Nodes[0])
			peer := fmt.Sprintf(`{kind="node",peer="%s"}`, down.IP)
			if !strings.Contains(body, "nodebgp_bgp_session_up"+peer+" 0") {
				t.Errorf("%s: /metrics lacks nodebgp_bgp_session_up%s 0", l.Nodes[0].Name, peer)
			}
		}
		if v := metricLabels(ctx, t, l.Nodes[0], "nodebgp_bgp_session_transitions_total", fmt.Sprintf(`direction="down",kind="node",peer="%s"`, down.IP)); v < 1 {
			t.Errorf("%s counts %v session transitions down with %s, want at least 1", l.Nodes[0].Name, v, down.Name)
		}

		if err := l.Agents.Start(down); err != nil {
			t.Fatal(err)
		}
		restarted = true
		// The restarted agent rebuilds its status from live state.
		for _, node := range l.Nodes {
			e2eutil.Eventually(t, 90*time.Second, time.Second, node.Name+" healthy again", func() error {
				return checkHealthy(ctx, l, admin, node)
			})
		}
	})

	suite.Step(t, "05 an object edited or deleted by hand is restored by its agent", func(t *testing.T) {
		edited := l.Nodes[0].Name
		patch := []byte(`{"status":{"asn":1,"sessionSummary":"0/0"}}`)
		if _, err := admin.Resource(status.GVR).Patch(ctx, edited, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("editing %s: %v", edited, err)
		}
		took := e2eutil.Eventually(t, 15*time.Second, 250*time.Millisecond, edited+" restored after an edit", func() error {
			o, _, err := getState(ctx, admin, edited)
			if err != nil || o == nil || o.Status.ASN != clusterASN || o.Status.SessionSummary != "2/2" {
				return fmt.Errorf("object %+v, %v", o, err)
			}
			return nil
		})
		t.Logf("%s restored %s after the edit", edited, took.Round(100*time.Millisecond))

		deleted := l.Nodes[1]
		if err := admin.Resource(status.GVR).Delete(ctx, deleted.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting %s: %v", deleted.Name, err)
		}
		took = e2eutil.Eventually(t, 15*time.Second, 250*time.Millisecond, deleted.Name+" re-created after a delete", func() error {
			return checkHealthy(ctx, l, admin, deleted)
		})
		t.Logf("%s re-created %s after the delete", deleted.Name, took.Round(100*time.Millisecond))
	})

	suite.Step(t, "06 the agents' token may apply BGPNodeStates and nothing more", func(t *testing.T) {
		name := l.Nodes[0].Name
		if _, err := agentClient.Resource(status.GVR).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name}); err != nil {
			t.Errorf("list of its own object refused: %v", err)
		}
		if err := agentClient.Resource(status.GVR).Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete: %v, want Forbidden", err)
		}
		_, u, err := getState(ctx, admin, name)
		if err != nil || u == nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if _, err := agentClient.Resource(status.GVR).Update(ctx, u, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("update: %v, want Forbidden", err)
		}
		crd := &unstructured.Unstructured{}
		crd.SetName("bgpnodestates.nodebgp.io")
		if err := agentClient.Resource(crdGVR).Delete(ctx, crd.GetName(), metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("deleting the CRD: %v, want Forbidden", err)
		}
	})

	suite.Step(t, "07 a write the API refuses is counted and logged once, and routing goes on", func(t *testing.T) {
		node := l.Nodes[0]
		logSize := fileSize(t, l.Agents.Log(node))
		errorsBefore := metricLabels(ctx, t, node, "nodebgp_status_write_errors_total", `reason="not-found"`)
		if err := admin.Resource(crdGVR).Delete(ctx, "bgpnodestates.nodebgp.io", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting the CRD: %v", err)
		}
		reinstalled := false
		t.Cleanup(func() {
			if !reinstalled {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = installCRD(cctx, l)
			}
		})
		// Backoff 3 s, 6 s, 12 s: at least three failed writes in 30 s.
		e2eutil.Eventually(t, 45*time.Second, time.Second, node.Name+" counting failed writes", func() error {
			if n := metricLabels(ctx, t, node, "nodebgp_status_write_errors_total", `reason="not-found"`) - errorsBefore; n < 3 {
				return fmt.Errorf("%v failed writes counted", n)
			}
			return nil
		})
		if n := countNew(t, l.Agents.Log(node), logSize, `event=status-write-failed.*reason=not-found`); n != 1 {
			t.Errorf("%s logged %d lines about the refused writes, want 1", node.Name, n)
		}
		if code, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, "http://127.0.0.1:9779/readyz"); err != nil || code != 200 {
			t.Errorf("%s not ready while only its status cannot be written: %d %v\n%s", node.Name, code, err, body)
		}
		for _, to := range l.Nodes[1:] {
			if err := e2eutil.Ping(ctx, node.Pod.Netns, to.Pod.IP, 5); err != nil {
				t.Errorf("routing while the status cannot be written: %v", err)
			}
		}

		if err := installCRD(ctx, l); err != nil {
			t.Fatal(err)
		}
		reinstalled = true
		for _, n := range l.Nodes {
			e2eutil.Eventually(t, 60*time.Second, time.Second, n.Name+"'s BGPNodeState after the CRD came back", func() error {
				return checkHealthy(ctx, l, admin, n)
			})
		}
		if n := countNew(t, l.Agents.Log(node), logSize, `event=status-recovered`); n != 1 {
			t.Errorf("%s logged %d recoveries, want 1", node.Name, n)
		}
	})

	suite.Step(t, "08 each session's BFD state: Down with its diagnostic when a node's link fails, Up when it returns", func(t *testing.T) {
		dead, watcher := l.Nodes[2], l.Nodes[0]
		t.Cleanup(func() { _ = uplink(context.Background(), dead, true) })
		bfdOf := func() (*status.SessionBFD, string, error) {
			// What an operator types: kubectl get bgpnodestate <node> -o json.
			out, err := e2eutil.Run(ctx, l.Tools.Kubectl, "--kubeconfig", l.CP.AdminKubeconfig, "get", "bgpnodestate", watcher.Name, "-o", "json")
			if err != nil {
				return nil, "", err
			}
			var o status.Object
			if err := json.Unmarshal([]byte(out), &o); err != nil {
				return nil, "", fmt.Errorf("kubectl output: %w", err)
			}
			for _, ss := range o.Status.Sessions {
				if ss.Peer == dead.IP.String() {
					return ss.BFD, o.Status.BFDSummary, nil
				}
			}
			return nil, o.Status.BFDSummary, fmt.Errorf("no session with %s", dead.IP)
		}
		want := func(state, diag, summary string) func() error {
			return func() error {
				b, sum, err := bfdOf()
				if err != nil {
					return err
				}
				if b == nil || b.State != state || b.Diagnostic != diag || sum != summary {
					return fmt.Errorf("bfd %+v, bfdSummary %q", b, sum)
				}
				return nil
			}
		}
		e2eutil.Eventually(t, 30*time.Second, time.Second, watcher.Name+" shows BFD Up with "+dead.Name, want("Up", "", "2/2"))

		if err := uplink(ctx, dead, false); err != nil {
			t.Fatal(err)
		}
		took := e2eutil.Eventually(t, 20*time.Second, 250*time.Millisecond, watcher.Name+" shows BFD Down with "+dead.Name,
			want("Down", "control detection time expired", "1/2"))
		t.Logf("%s's uplink down -> BFD Down in %s's BGPNodeState after %s", dead.Name, watcher.Name, took.Round(10*time.Millisecond))

		if err := uplink(ctx, dead, true); err != nil {
			t.Fatal(err)
		}
		took = e2eutil.Eventually(t, 60*time.Second, 250*time.Millisecond, watcher.Name+" shows BFD Up again with "+dead.Name,
			want("Up", "", "2/2"))
		t.Logf("%s's uplink up -> BFD Up in %s's BGPNodeState after %s", dead.Name, watcher.Name, took.Round(10*time.Millisecond))
		for _, n := range l.Nodes {
			e2eutil.Eventually(t, 60*time.Second, time.Second, n.Name+"'s BGPNodeState healthy again", func() error {
				return checkHealthy(ctx, l, admin, n)
			})
		}
	})
}

// uplink sets node's link into the fabric down or up.
func uplink(ctx context.Context, node *lab.Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := e2eutil.Run(ctx, "ip", "-n", node.Netns, "link", "set", "eth0", state)
	return err
}

// checkHealthy checks a node's object against the lab: identity, a session
// per other node, its pod CIDR advertised, a kernel route per other node,
// every condition true, owned by its Node.
func checkHealthy(ctx context.Context, l *lab.Lab, c dynamic.Interface, node *lab.Node) error {
	o, _, err := getState(ctx, c, node.Name)
	if err != nil {
		return err
	}
	if o == nil {
		return errors.New("no object")
	}
	s := o.Status
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	if s.ASN != clusterASN || s.RouterID != node.IP.String() || s.Role != "mesh" {
		bad("identity %d %s %s", s.ASN, s.RouterID, s.Role)
	}
	var peers []string
	for _, ss := range s.Sessions {
		peers = append(peers, ss.Peer)
		if ss.State != "established" || ss.Kind != "node" || ss.ASN != clusterASN || ss.Received != 1 || ss.Accepted != 1 || ss.Advertised < 1 {
			bad("session %+v", ss)
		}
		if _, err := time.Parse(time.RFC3339, ss.Since); err != nil {
			bad("session %s since %q", ss.Peer, ss.Since)
		}
		// --bfd: 300 ms x 3, so a detection time of 900 ms once Up.
		if ss.BFD == nil || ss.BFD.State != "Up" || ss.BFD.DetectionTimeMilliseconds != 900 {
			bad("session %s bfd %+v, want Up with a detection time of 900 ms", ss.Peer, ss.BFD)
		}
	}
	if s.BFDSummary != "2/2" {
		bad("bfdSummary %q, want 2/2", s.BFDSummary)
	}
	var want []string
	for _, other := range l.Nodes {
		if other != node {
			want = append(want, other.IP.String())
		}
	}
	slices.Sort(want)
	if !slices.Equal(peers, want) || s.SessionSummary != "2/2" {
		bad("sessions %v (%s), want %v", peers, s.SessionSummary, want)
	}
	if !slices.Equal(s.AdvertisedPodCIDRs, []string{node.PodCIDR.String()}) {
		bad("advertised %v, want %s", s.AdvertisedPodCIDRs, node.PodCIDR)
	}
	if s.KernelRoutes != len(l.Nodes)-1 {
		bad("kernelRoutes %d, want %d", s.KernelRoutes, len(l.Nodes)-1)
	}
	for _, typ := range []string{status.Ready, status.RoutesProgrammed, status.PeersEstablished} {
		if cond := condition(s, typ); cond.Status != "True" {
			bad("condition %+v", cond)
		}
	}
	cs, err := l.CP.Client()
	if err != nil {
		return err
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	refs := o.Metadata.OwnerReferences
	if len(refs) != 1 || refs[0].Kind != "Node" || refs[0].Name != node.Name || refs[0].UID != n.UID {
		bad("ownerReferences %+v, want the Node %s (%s)", refs, node.Name, n.UID)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func metrics(ctx context.Context, t *testing.T, node *lab.Node) string {
	t.Helper()
	code, body, err := e2eutil.HTTPGetIn(ctx, node.Netns, "http://127.0.0.1:9779/metrics")
	if err != nil || code != 200 {
		t.Fatalf("%s: /metrics: %d %v", node.Name, code, err)
	}
	return body
}

// metric is the value of an unlabelled series.
func metric(ctx context.Context, t *testing.T, node *lab.Node, name string) float64 {
	t.Helper()
	return metricLabels(ctx, t, node, name, "")
}

// metricLabels is the value of the series name{labels} (labels as the
// exposition format sorts them), 0 when absent.
func metricLabels(ctx context.Context, t *testing.T, node *lab.Node, name, labels string) float64 {
	t.Helper()
	series := name
	if labels != "" {
		series += "{" + labels + "}"
	}
	for _, line := range strings.Split(metrics(ctx, t, node), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", node.Name, line, err)
			}
			return f
		}
	}
	return 0
}

func valuesOf(m map[string]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// countNew counts the lines matching re written to path after offset.
func countNew(t *testing.T, path string, offset int64, re string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(raw)) {
		offset = 0
	}
	return len(regexp.MustCompile(re).FindAllIndex(raw[offset:], -1))
}
