//go:build e2e

package status

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/status"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

const crdManifest = "daemonset/base/crd-bgpnodestates.yaml"

// dynamicFor is a dynamic client with the credentials of a kubeconfig.
func dynamicFor(kubeconfig string) (dynamic.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the simulation's 100 writers share it
	return dynamic.NewForConfig(cfg)
}

// installCRD creates the manifests' CRD (as `kubectl apply` would) and
// waits until it is established. The agents are already running: their
// writes failed with not-found so far, and succeed from now on.
func installCRD(ctx context.Context, l *lab.Lab) error {
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(root, crdManifest))
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("%s: %w", crdManifest, err)
	}
	admin, err := dynamicFor(l.CP.AdminKubeconfig)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := admin.Resource(crdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "e2e", Force: true}); err != nil {
		return fmt.Errorf("applying %s: %w", crdManifest, err)
	}
	_, err = e2eutil.WaitFor(time.Minute, 500*time.Millisecond, "the BGPNodeState CRD established", func() error {
		got, err := admin.Resource(crdGVR).Get(ctx, u.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not established yet")
	})
	return err
}

// getState reads a node's BGPNodeState; nil when it does not exist.
func getState(ctx context.Context, c dynamic.Interface, name string) (*status.Object, *unstructured.Unstructured, error) {
	u, err := c.Resource(status.GVR).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var o status.Object
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o); err != nil {
		return nil, nil, err
	}
	return &o, u, nil
}

func condition(s status.Status, typ string) status.Condition {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return status.Condition{}
}
