//go:build e2e

package e2eutil

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodebgp/router/e2e/lab"
)

// Annotate sets (or, with a nil value, removes) one annotation of node's
// Node object, as `kubectl annotate` would.
func Annotate(ctx context.Context, l *lab.Lab, node *lab.Node, key string, value *string) error {
	cs, err := l.CP.Client()
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{key: value}}})
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("node %s: annotating %s: %w", node.Name, key, err)
	}
	return nil
}

// Ptr is a pointer to s, for Annotate's value.
func Ptr(s string) *string { return &s }
