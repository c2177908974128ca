//go:build e2e

package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/status"
)

const policyManifest = "daemonset/components/status-policy/status-policy.yaml"

var (
	vapGVR        = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapBindingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// TestStatusPolicy proves the shipped ValidatingAdmissionPolicy on the lab's
// v1.34 API server: a token bound to node A (as a pod-bound token of a
// DaemonSet pod on A is) may write A's BGPNodeState and is refused B's; a
// token bound to no node is refused. The lab's agents run with such an
// unbound token, so the policy is only in force during this test.
func TestStatusPolicy(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 5*time.Minute)
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	a, b := l.Nodes[0], l.Nodes[1]
	for _, n := range []*lab.Node{a, b} {
		e2eutil.Eventually(t, 90*time.Second, time.Second, n.Name+"'s BGPNodeState", func() error {
			o, _, err := getState(ctx, admin, n.Name)
			if err == nil && o == nil {
				err = fmt.Errorf("no object yet")
			}
			return err
		})
	}
	tokenA, err := nodeBoundClient(ctx, l, a)
	if err != nil {
		t.Fatal(err)
	}
	unbound, err := dynamicFor(l.Agents.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	writeAs := func(c dynamic.Interface, node *lab.Node) error {
		o, _, err := getState(ctx, admin, node.Name)
		if err != nil || o == nil {
			return fmt.Errorf("reading %s: %v", node.Name, err)
		}
		return status.Kube{Client: c}.Apply(ctx, *o)
	}
	// Without the policy, RBAC alone lets any agent write any node's object.
	if err := writeAs(tokenA, b); err != nil {
		t.Fatalf("before the policy: %s's token writing %s: %v (RBAC should allow it)", a.Name, b.Name, err)
	}

	if err := applyPolicy(ctx, admin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = admin.Resource(vapBindingGVR).Delete(cctx, "nodebgp-own-node-status", metav1.DeleteOptions{})
		_ = admin.Resource(vapGVR).Delete(cctx, "nodebgp-own-node-status", metav1.DeleteOptions{})
		// The API server drops a deleted policy a moment later: wait, so
		// that the next test's writers (with unbound tokens) are not refused.
		_, err := e2eutil.WaitFor(30*time.Second, 500*time.Millisecond, "the policy gone", func() error { return writeAs(unbound, a) })
		if err != nil {
			t.Error(err)
		}
	})
	// A policy takes effect once the API server has loaded it.
	e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "the policy refusing "+a.Name+"'s token on "+b.Name, func() error {
		err := writeAs(tokenA, b)
		if err == nil {
			return fmt.Errorf("allowed")
		}
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "may write BGPNodeState "+a.Name+" only, not "+b.Name) {
			return fmt.Errorf("refused, but not by the policy: %v", err)
		}
		return nil
	})
	if err := writeAs(tokenA, a); err != nil {
		t.Errorf("%s's token writing its own %s: %v", a.Name, a.Name, err)
	}
	if err := writeAs(unbound, a); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "carries no node name") {
		t.Errorf("a token bound to no node writing %s: %v, want refused by the policy", a.Name, err)
	}
}

// nodeBoundClient is a client with a token of the agents' ServiceAccount
// bound to node's Node object: the API server puts the node's name into the
// user's extra info, as it does for a pod-bound token of a pod on the node.
func nodeBoundClient(ctx context.Context, l *lab.Lab, node *lab.Node) (dynamic.Interface, error) {
	cs, err := l.CP.Client()
	if err != nil {
		return nil, err
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	expiry := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "nodebgp", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Node", APIVersion: "v1", Name: n.Name, UID: n.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("a token bound to node %s: %w", node.Name, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.CP.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.BearerToken, cfg.BearerTokenFile = tr.Status.Token, ""
	return dynamic.NewForConfig(cfg)
}

// applyPolicy creates the manifests' policy and its binding.
func applyPolicy(ctx context.Context, admin dynamic.Interface) error {
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(root, policyManifest))
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", policyManifest, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		gvr := vapGVR
		if u.GetKind() == "ValidatingAdmissionPolicyBinding" {
			gvr = vapBindingGVR
		}
		if _, err := admin.Resource(gvr).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "e2e", Force: true}); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}
