//go:build e2e

package services

import (
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testRBAC: with the agents' own token (bound to daemonset/base's
// ClusterRole) Services and EndpointSlices can be listed, and nothing
// more: no get by name, no writes.
func testRBAC(t *testing.T) {
	ctx := e2eutil.TestContext(t, time.Minute)
	l := suite.Lab(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Agents.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	create(ctx, t, service("rbac", "ClusterIP"))
	tests := []struct {
		name          string
		call          func() error
		wantForbidden bool
	}{
		{"lists Services", func() error { _, err := agent.CoreV1().Services("").List(ctx, metav1.ListOptions{}); return err }, false},
		{"lists EndpointSlices", func() error {
			_, err := agent.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"is forbidden to get a Service by name", func() error {
			_, err := agent.CoreV1().Services(ns).Get(ctx, "rbac", metav1.GetOptions{})
			return err
		}, true},
		{"is forbidden to patch a Service", func() error {
			_, err := agent.CoreV1().Services(ns).Patch(ctx, "rbac", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			return err
		}, true},
		{"is forbidden to write a Service's status", func() error {
			_, err := agent.CoreV1().Services(ns).Patch(ctx, "rbac", types.MergePatchType, []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.99"}]}}}`), metav1.PatchOptions{}, "status")
			return err
		}, true},
		{"is forbidden to delete an EndpointSlice", func() error {
			err := agent.DiscoveryV1().EndpointSlices(ns).Delete(ctx, "none", metav1.DeleteOptions{})
			return err
		}, true},
	}
	for _, tc := range tests {
		err := tc.call()
		switch {
		case tc.wantForbidden && !apierrors.IsForbidden(err):
			t.Errorf("agent %s: got %v, want Forbidden", tc.name, err)
		case !tc.wantForbidden && err != nil:
			t.Errorf("agent %s: got %v, want allowed", tc.name, err)
		default:
			t.Logf("agent %s: ok (%v)", tc.name, err)
		}
	}
}
