package agent

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodebgp/router/pkg/kubeclient"
)

// newClient connects with --kubeconfig when given, else with the pod's
// ServiceAccount (in-cluster).
func newClient(kubeconfig string) (*kubeclient.Client, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubeclient.New(cfg)
}

// restConfig is the connection newClient and the status writer use.
func restConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (outside a pod, set --kubeconfig): %w", err)
		}
	}
	cfg.UserAgent = "nodebgp-router"
	return cfg, nil
}
