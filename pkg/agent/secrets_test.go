package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodebgp/router/pkg/peering"
)

// secretsOf reads Secrets from a fake clientset, as kubeclient does from the
// API server.
func secretsOf(client *fake.Clientset) getSecret {
	return func(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
		return client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	}
}

func TestSecretCacheReadsEachSecretOncePerTTLAndNeverLeaksTheValue(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "nodebgp-peer-passwords"},
		Data:       map[string][]byte{"10.199.1.254": []byte("s3cret")},
	})
	gets := 0
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets++
		return false, nil, nil
	})
	now := time.Unix(0, 0)
	c := newSecretCache(secretsOf(client), time.Minute)
	c.now = func() time.Time { return now }
	ref := peering.SecretRef{Namespace: "kube-system", Name: "nodebgp-peer-passwords", Key: "10.199.1.254"}

	for i := 0; i < 3; i++ {
		if pw, err := c.password(ref); err != nil || pw != "s3cret" {
			t.Fatalf("password = %q, %v; want s3cret", pw, err)
		}
	}
	if gets != 1 {
		t.Fatalf("%d API gets within the TTL, want 1", gets)
	}
	now = now.Add(time.Minute)
	if _, err := c.password(ref); err != nil {
		t.Fatal(err)
	}
	if gets != 2 {
		t.Fatalf("%d API gets after the TTL, want 2", gets)
	}

	missing := ref
	missing.Key = "10.199.1.253"
	_, err := c.password(missing)
	if err == nil || !strings.Contains(err.Error(), `kube-system/nodebgp-peer-passwords has no key "10.199.1.253"`) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("missing key error = %v; want it to name Secret and key and not the value", err)
	}
	_, err = c.password(peering.SecretRef{Namespace: "kube-system", Name: "absent", Key: "k"})
	if err == nil || !strings.Contains(err.Error(), "reading Secret kube-system/absent") {
		t.Fatalf("absent Secret error = %v; want it to name the Secret", err)
	}
}

func TestSecretCacheKeepsTheLastValueThroughAnAPIOutageButNotADeletion(t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "nodebgp-peer-passwords"},
		Data:       map[string][]byte{"password": []byte("mesh-pw")},
	}
	client := fake.NewClientset(secret)
	var failWith error
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failWith != nil {
			return true, nil, failWith
		}
		return false, nil, nil
	})
	now := time.Unix(0, 0)
	c := newSecretCache(secretsOf(client), time.Minute)
	c.now = func() time.Time { return now }
	ref := peering.SecretRef{Namespace: "kube-system", Name: "nodebgp-peer-passwords", Key: "password"}
	if pw, err := c.password(ref); err != nil || pw != "mesh-pw" {
		t.Fatalf("password = %q, %v; want mesh-pw", pw, err)
	}

	failWith = apierrors.NewServiceUnavailable("apiserver restarting")
	now = now.Add(time.Minute)
	if pw, err := c.password(ref); err != nil || pw != "mesh-pw" {
		t.Fatalf("during an API outage: password = %q, %v; want the last value read", pw, err)
	}

	failWith = apierrors.NewNotFound(corev1.Resource("secrets"), "nodebgp-peer-passwords")
	now = now.Add(time.Minute)
	if pw, err := c.password(ref); err == nil || pw != "" {
		t.Fatalf("after a deletion: password = %q, %v; want an error", pw, err)
	}
}

func TestRefreshDueReportsAChangedSecretOnlyOnceItsTTLHasPassed(t *testing.T) {
	ref := peering.SecretRef{Namespace: "kube-system", Name: "nodebgp-peer-passwords", Key: "password"}
	secret := func(pw string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
			Data:       map[string][]byte{ref.Key: []byte(pw)},
		}
	}
	tests := []struct {
		name    string
		after   time.Duration
		change  func(*fake.Clientset)
		want    bool
		wantGet bool
	}{
		{"unchanged after the TTL", time.Minute, func(*fake.Clientset) {}, false, true},
		{"rotated after the TTL", time.Minute, func(c *fake.Clientset) {
			_ = c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("secrets"), secret("rotated"), ref.Namespace)
		}, true, true},
		{"rotated, but within the TTL: not read yet", time.Second, func(c *fake.Clientset) {
			_ = c.Tracker().Update(corev1.SchemeGroupVersion.WithResource("secrets"), secret("rotated"), ref.Namespace)
		}, false, false},
		{"deleted after the TTL", time.Minute, func(c *fake.Clientset) {
			_ = c.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("secrets"), ref.Namespace, ref.Name)
		}, true, true},
		{"the API unreachable after the TTL: the old value holds", time.Minute, func(c *fake.Clientset) {
			c.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewServiceUnavailable("down")
			})
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(secret("s3cret"))
			now := time.Unix(0, 0)
			c := newSecretCache(secretsOf(client), time.Minute)
			c.now = func() time.Time { return now }
			if _, err := c.password(ref); err != nil {
				t.Fatal(err)
			}
			tt.change(client)
			gets := 0
			client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				gets++
				return false, nil, nil
			})
			now = now.Add(tt.after)
			if got := c.refreshDue(); got != tt.want {
				t.Fatalf("refreshDue = %v, want %v", got, tt.want)
			}
			if (gets > 0) != tt.wantGet {
				t.Fatalf("%d API gets, want any: %v", gets, tt.wantGet)
			}
			if c.refreshDue() {
				t.Fatal("a second refresh right after reported a change again")
			}
		})
	}
}
