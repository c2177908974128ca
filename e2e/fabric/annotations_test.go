//go:build e2e

package fabric

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
)

// testBadAnnotations: a nodebgp.io/peers annotation that cannot be used is
// logged and recorded as a Warning Event naming the node and the field; the
// node keeps its ToR session (from the flags) and its route on the ToR, and
// says so when the annotation is fixed.
func testBadAnnotations(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, 3*time.Minute)
	n := e2eutil.NodeWithPod(t, l, 1)
	const key = "nodebgp.io/peers"
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e2eutil.Annotate(cctx, l, n, key, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	cases := []struct {
		name, value string
		field       string // what the message must name
	}{
		{"unparseable JSON", `[{"address":`, key + ": not a JSON list"},
		{"ASN out of range", `[{"address":"10.199.1.200","asn":4294967296}]`, key + "[0].asn"},
		{"address not an IP", `[{"address":"tor1.example","asn":65000}]`, key + "[0].address"},
	}
	for _, c := range cases {
		e2eutil.LogStep(t, "%s: %s=%s", c.name, key, c.value)
		offset := logOffset(l, n)
		if err := e2eutil.Annotate(ctx, l, n, key, e2eutil.Ptr(c.value)); err != nil {
			t.Fatal(err)
		}
		took := e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "Event for "+c.name, func() error {
			if err := checkToRSession(ctx, l, n); err != nil {
				return err
			}
			_, err := findEvent(ctx, l, n, corev1.EventTypeWarning, "InvalidAnnotation", `node "`+n.Name+`"`, c.field)
			return err
		})
		ev, _ := findEvent(ctx, l, n, corev1.EventTypeWarning, "InvalidAnnotation", c.field)
		e2eutil.LogStep(t, "after %s: Event %s/%s %s: %s", took.Round(100*time.Millisecond), ev.Namespace, ev.Name, ev.Reason, ev.Message)
		line, err := agentLogged(l, n, offset, c.field)
		if err != nil {
			t.Fatal(err)
		}
		e2eutil.LogStep(t, "log: %s", line)
		e2eutil.LogStep(t, "the ToR session and %s on the ToR stay (3s)", n.PodCIDR)
		e2eutil.Consistently(t, 3*time.Second, 500*time.Millisecond, "ToR session with a bad annotation", func() error {
			if err := checkToRSession(ctx, l, n); err != nil {
				return err
			}
			_, err := checkToRHasRoute(ctx, l, n)
			return err
		})
	}
	e2eutil.LogStep(t, "fixed: %s removed", key)
	offset := logOffset(l, n)
	if err := e2eutil.Annotate(ctx, l, n, key, nil); err != nil {
		t.Fatal(err)
	}
	e2eutil.Eventually(t, 30*time.Second, 500*time.Millisecond, "problems resolved", func() error {
		_, err := agentLogged(l, n, offset, "BGP configuration problems resolved")
		return err
	})
	if err := checkToRSession(ctx, l, n); err != nil {
		t.Fatal(err)
	}
}
