package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeState is one node as the API shows it.
type NodeState struct {
	Name     string
	Ready    bool
	Reason   string // of the Ready condition when not ready
	PodCIDRs []string
}

// NodeStates lists the Node objects.
func (c *Cluster) NodeStates(ctx context.Context) ([]NodeState, error) {
	cs, err := c.Client()
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []NodeState
	for _, n := range list.Items {
		s := NodeState{Name: n.Name, PodCIDRs: n.Spec.PodCIDRs}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				s.Ready = cond.Status == corev1.ConditionTrue
				if !s.Ready {
					s.Reason = cond.Reason + ": " + cond.Message
				}
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return NodeIndex(out[i].Name) < NodeIndex(out[j].Name) })
	return out, nil
}

// WaitRegistered waits until n nodes exist, each with a pod CIDR.
func (c *Cluster) WaitRegistered(ctx context.Context, n int, timeout time.Duration) error {
	return c.waitNodes(ctx, timeout, "registered with a pod CIDR", func(s []NodeState) error {
		var have []string
		for _, x := range s {
			if len(x.PodCIDRs) > 0 {
				have = append(have, x.Name)
			}
		}
		if len(have) < n {
			return fmt.Errorf("%d of %d nodes registered with a pod CIDR (%s)", len(have), n, strings.Join(have, ", "))
		}
		return nil
	})
}

// WaitReady waits until every named node is Ready.
func (c *Cluster) WaitReady(ctx context.Context, names []string, timeout time.Duration) error {
	return c.waitNodes(ctx, timeout, "Ready", func(s []NodeState) error {
		for _, name := range names {
			found := false
			for _, x := range s {
				if x.Name == name {
					found = true
					if !x.Ready {
						return fmt.Errorf("node %s not Ready: %s", name, x.Reason)
					}
				}
			}
			if !found {
				return fmt.Errorf("node %s not registered", name)
			}
		}
		return nil
	})
}

func (c *Cluster) waitNodes(ctx context.Context, timeout time.Duration, what string, check func([]NodeState) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		s, err := c.NodeStates(ctx)
		if err == nil {
			err = check(s)
		}
		if err == nil {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes %s: not within %v: %w", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
