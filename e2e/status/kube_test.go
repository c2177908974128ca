//go:build e2e

package status

import (
	"context"
	"fmt"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/e2e/lab"
	"github.com/nodebgp/router/pkg/status"
)

var crdGVR = lab.CRDResource

// dynamicFor is a dynamic client with the credentials of a kubeconfig.
func dynamicFor(kubeconfig string) (dynamic.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the simulation's 100 writers share it
	return dynamic.NewForConfig(cfg)
}

// installCRD installs the manifests' CRD again (the lab installs it at
// start; step 07 deletes it) and waits until it is established.
func installCRD(ctx context.Context, l *lab.Lab) error {
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	return l.CP.InstallCRD(ctx, filepath.Join(root, lab.CRDManifest))
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
