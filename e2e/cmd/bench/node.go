package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const injectorNodeName = "bench-injector"

// injectorPodCIDR is the injector Node's pod CIDR: inside the cluster CIDR,
// clear of the lab nodes' 10.244.<n>.0/24, never announced.
var injectorPodCIDR = netip.MustParsePrefix("10.244.200.0/24")

// registerInjector makes the injector a Node so the agent peers with it and
// accepts its routes. Like kubelet, it registers with its status in the one
// create (the API server keeps status on create), so the agent never sees a
// Node without an InternalIP. A Node left by an earlier run is replaced.
func registerInjector(ctx context.Context, client kubernetes.Interface) error {
	nodes := client.CoreV1().Nodes()
	if err := nodes.Delete(ctx, injectorNodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s: deleting an old Node object: %w", injectorNodeName, err)
	}
	cidr := injectorPodCIDR.String()
	now := metav1.NewTime(time.Now())
	_, err := nodes.Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: injectorNodeName, Labels: map[string]string{"kubernetes.io/hostname": injectorNodeName}},
		Spec:       corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: injectorAddr.Addr().String()},
				{Type: corev1.NodeHostName, Address: injectorNodeName},
			},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "bench route injector",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("node %s: creating the Node object: %w", injectorNodeName, err)
	}
	return nil
}
