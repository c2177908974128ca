package agent

import (
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
	c := newSecretCache(client, time.Minute)
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
	c := newSecretCache(client, time.Minute)
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
