package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// CRDManifest is the manifests' CRD of the per-node status objects, relative
// to the repository root; the lab installs it as `kubectl apply` would, so
// every suite's agents write their BGPNodeState as in a real cluster.
const CRDManifest = "daemonset/base/crd-bgpnodestates.yaml"

// CRDResource is the resource of CustomResourceDefinitions.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRD applies the CRD at manifestPath (server-side, as the field
// manager "lab") and waits until it is established.
func (c *ControlPlane) InstallCRD(ctx context.Context, manifestPath string) error {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("%s: %w", manifestPath, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %s: %w", c.AdminKubeconfig, err)
	}
	admin, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := admin.Resource(CRDResource).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "lab", Force: true}); err != nil {
		return fmt.Errorf("applying %s: %w", manifestPath, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := admin.Resource(CRDResource).Get(ctx, u.GetName(), metav1.GetOptions{})
		if err == nil && established(got) {
			return nil
		}
		if err == nil {
			err = errors.New("not established yet")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s: %w", u.GetName(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
