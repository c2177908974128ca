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

	"github.com/nodebgp/router/pkg/bgp"
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

func TestMeshPasswordKeepsTheLastValueAndNodeSessionsWaitForTheFirst(t *testing.T) {
	ref := peering.SecretRef{Namespace: "kube-system", Name: "nodebgp-peer-passwords", Key: "password"}
	client := fake.NewClientset()
	now := time.Unix(0, 0)
	a := &agent{cfg: Config{MeshPasswordSecret: ref}, secrets: newSecretCache(client, time.Minute)}
	a.secrets.now = func() time.Time { return now }

	pw, ready, err := a.meshPassword()
	if ready || pw != "" || err == nil || !strings.Contains(err.Error(), "--mesh-password-secret") || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("no Secret yet: %q ready=%v err=%v; want not ready and an error naming the flag", pw, ready, err)
	}
	peers := withoutNodePeers([]bgp.Peer{{Kind: bgp.PeerNode}, {Kind: bgp.PeerUpstream}, {Kind: bgp.PeerNode}})
	if len(peers) != 1 || peers[0].Kind != bgp.PeerUpstream {
		t.Fatalf("withoutNodePeers kept %+v, want the upstream peer only", peers)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "nodebgp-peer-passwords"},
		Data:       map[string][]byte{"password": []byte("mesh-pw")},
	}
	if _, err := client.CoreV1().Secrets("kube-system").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if pw, ready, err := a.meshPassword(); !ready || pw != "mesh-pw" || err != nil {
		t.Fatalf("Secret written: %q ready=%v err=%v; want mesh-pw", pw, ready, err)
	}

	if err := client.CoreV1().Secrets("kube-system").Delete(context.Background(), "nodebgp-peer-passwords", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	pw, ready, err = a.meshPassword()
	if !ready || pw != "mesh-pw" || err == nil || strings.Contains(err.Error(), "mesh-pw") {
		t.Fatalf("Secret deleted: %q ready=%v err=%v; want the last password kept, reported without its value", pw, ready, err)
	}
}
