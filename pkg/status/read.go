package status

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/nodebgp/router/pkg/kubeclient"
	"github.com/nodebgp/router/pkg/nodestream"
	"github.com/nodebgp/router/pkg/slimnode"
)

// ReadCluster lists every Node and every BGPNodeState, for Check.
// The Nodes are read as the agent reads them (pkg/nodestream).
func ReadCluster(ctx context.Context, cfg *rest.Config) ([]*slimnode.Node, []Object, error) {
	kc, err := kubeclient.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	nl, err := nodestream.List(ctx, kc.Core, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]*slimnode.Node, 0, len(nl.Items))
	for i := range nl.Items {
		nodes = append(nodes, &nl.Items[i])
	}
	ul, err := dc.Resource(GVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", Resource, err)
	}
	objs := make([]Object, 0, len(ul.Items))
	for i := range ul.Items {
		o, err := fromUnstructured(&unstructured.Unstructured{Object: ul.Items[i].Object})
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, o)
	}
	return nodes, objs, nil
}
