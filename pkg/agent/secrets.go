package agent

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nodebgp/router/pkg/peering"
)

// secretCache reads BGP passwords from Secrets. It gets each Secret by name
// (the agent's Role allows get on named Secrets only, never list or watch)
// and keeps it for ttl, so a node loop pass does not cost one API call per peer.
type secretCache struct {
	client  kubernetes.Interface
	ttl     time.Duration
	now     func() time.Time
	entries map[string]secretEntry
}

type secretEntry struct {
	data    map[string][]byte
	err     error
	fetched time.Time
}

func newSecretCache(client kubernetes.Interface, ttl time.Duration) *secretCache {
	return &secretCache{client: client, ttl: ttl, now: time.Now, entries: map[string]secretEntry{}}
}

// password returns the value of ref's key. Errors name the Secret and key,
// never the value.
func (c *secretCache) password(ref peering.SecretRef) (string, error) {
	id := ref.Namespace + "/" + ref.Name
	e, ok := c.entries[id]
	if !ok || c.now().Sub(e.fetched) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := c.client.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		cancel()
		switch {
		case err == nil:
			e = secretEntry{fetched: c.now(), data: s.Data}
		case ok && e.err == nil && !apierrors.IsNotFound(err):
			// The API is unreachable, not the Secret gone: keep what we
			// read until the next try, so a blip does not tear down the
			// sessions it signs (the API check reports the outage).
			e.fetched = c.now()
		default:
			e = secretEntry{fetched: c.now(), err: err}
		}
		c.entries[id] = e
	}
	if e.err != nil {
		return "", fmt.Errorf("reading Secret %s: %w", id, e.err)
	}
	v, ok := e.data[ref.Key]
	if !ok || len(v) == 0 {
		return "", fmt.Errorf("Secret %s has no key %q", id, ref.Key)
	}
	return string(v), nil
}
