package lab

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// The control plane's side of a node: its Node object, written as kubelet
// registers it and kube-controller-manager allocates its pod CIDR.

// admin is the lab's own admin client of c, made once, with a timeout.
func (c *ControlPlane) admin() (kubernetes.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	cs, err := adminClient(c.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	c.client = cs
	return cs, nil
}

func adminClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 30 * time.Second
	// Not client-go's default of 5 requests a second: a benchmark that
	// adds and removes nodes back to back (e2e/nodeadd) ran into it, and
	// each Node write then waited 200 ms in the client, time a kubelet's
	// registration does not spend.
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", kubeconfig, err)
	}
	return client, nil
}

// EnsureNode creates or repairs node's Node object, with annotations.
// Status is a subresource, so it is written by a second call, as kubelet
// does.
func (c *ControlPlane) EnsureNode(ctx context.Context, node *Node, annotations map[string]string) error {
	cs, err := c.admin()
	if err != nil {
		return err
	}
	nodes := cs.CoreV1().Nodes()
	want := nodeObject(node)
	want.Annotations = annotations
	got, err := nodes.Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s: reading the Node object: %w", node.Name, err)
	}
	exists := err == nil
	if exists && got.Spec.PodCIDR != want.Spec.PodCIDR {
		// spec.podCIDR cannot change once set; a stale object is replaced.
		if err := c.DeleteNode(ctx, node.Name); err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		if _, err := nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("node %s: creating the Node object: %w", node.Name, err)
		}
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = nodeStatus(node, time.Now())
		_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s: writing the Node status: %w", node.Name, err)
	}
	return nil
}

// DeleteNode deletes a Node object, as `kubectl delete node` would; a
// missing object is not an error.
func (c *ControlPlane) DeleteNode(ctx context.Context, name string) error {
	cs, err := c.admin()
	if err != nil {
		return err
	}
	err = cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s: deleting the Node object: %w", name, err)
	}
	return nil
}

// nodeObject is the Node as kubelet registers it, with the pod CIDR that
// kube-controller-manager would allocate.
func nodeObject(node *Node) *corev1.Node {
	cidr := node.PodCIDR.String()
	var cidrs []string
	for _, c := range node.PodCIDRs() {
		cidrs = append(cidrs, c.String())
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: node.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname": node.Name,
				"kubernetes.io/os":       "linux",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: cidrs},
	}
}

// nodeStatus is what kubelet reports: its addresses and that it is Ready.
func nodeStatus(node *Node, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now)
	var addrs []corev1.NodeAddress
	for _, a := range nodeAddresses(node) {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a.String()})
	}
	return corev1.NodeStatus{
		Addresses: append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: node.Name}),
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "lab node",
			LastHeartbeatTime: t, LastTransitionTime: t,
		}},
	}
}
