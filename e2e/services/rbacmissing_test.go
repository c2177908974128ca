//go:build e2e

package services

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testMissingPermission: an agent whose ClusterRole lost Services and
// EndpointSlices still starts and routes (its sessions come up), says why
// with a Forbidden Event on its Node, and announces Services once the
// permission is back, without a restart.
func testMissingPermission(t *testing.T) {
	ctx := e2eutil.TestContext(t, 4*time.Minute)
	l := suite.Lab(t)
	cs := client(t)
	node := l.Nodes[2]
	create(ctx, t, service("perm", corev1.ServiceTypeLoadBalancer), "198.51.100.90")
	waitToR(ctx, t, hostRoute("198.51.100.90"), nodeIPs(l.Nodes...), announceWait)

	roles := cs.RbacV1().ClusterRoles()
	orig, err := roles.Get(ctx, "nodebgp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restore := func(ctx context.Context) error {
		cur, err := roles.Get(ctx, "nodebgp", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Rules = orig.Rules
		_, err = roles.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := restore(ctx); err != nil {
			t.Errorf("restoring ClusterRole nodebgp: %v", err)
		}
		if !l.Agents.Running(node) {
			if err := l.Agents.Start(node); err != nil {
				t.Errorf("restarting %s's agent: %v", node.Name, err)
			}
		}
	})
	cut := orig.DeepCopy()
	cut.Rules = slices.DeleteFunc(cut.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "services") || slices.Contains(r.Resources, "endpointslices")
	})
	if _, err := roles.Update(ctx, cut, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e2eutil.LogStep(t, "ClusterRole nodebgp without services and endpointslices; restarting %s's agent", node.Name)
	if err := l.Agents.Stop(node); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.Agents.Start(node); err != nil {
		t.Fatal(err)
	}
	took := e2eutil.Eventually(t, 90*time.Second, 200*time.Millisecond, node.Name+" has every session up without Service permissions", func() error {
		return e2eutil.CheckEstablished(ctx, l, node, expectSessions(node)...)
	})
	t.Logf("%s: sessions up %s after the start, without Service permissions", node.Name, took.Round(time.Millisecond))
	e2eutil.Eventually(t, 60*time.Second, 500*time.Millisecond, "a Forbidden Event on Node "+node.Name, func() error {
		evs, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + node.Name + ",reason=Forbidden"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, "services") && e.LastTimestamp.After(start.Add(-time.Second)) {
				t.Logf("Event on %s: %s", node.Name, e.Message)
				return nil
			}
		}
		return fmt.Errorf("%d Forbidden events, none about services since the restart", len(evs.Items))
	})
	waitToR(ctx, t, hostRoute("198.51.100.90"), nodeIPs(l.Nodes[0], l.Nodes[1]), announceWait)

	e2eutil.LogStep(t, "permission restored: %s announces without a restart", node.Name)
	restored := time.Now()
	if err := restore(ctx); err != nil {
		t.Fatal(err)
	}
	waitToR(ctx, t, hostRoute("198.51.100.90"), nodeIPs(l.Nodes...), 90*time.Second)
	t.Logf("%s announced the Service %s after the ClusterRole was restored (the informer's retry back-off)", node.Name, time.Since(restored).Round(time.Millisecond))
}
