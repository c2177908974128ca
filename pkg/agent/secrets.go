package agent

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/nodebgp/router/pkg/peering"
)

// secretCache reads BGP passwords from Secrets. It gets each Secret by name
// (the agent's Role allows get on named Secrets only, never list or watch)
// and keeps it for ttl, so a node loop pass does not cost one API call per peer.
type secretCache struct {
	get     getSecret
	ttl     time.Duration
	now     func() time.Time
	entries map[string]secretEntry
}

type secretEntry struct {
	data    map[string][]byte
	err     error
	fetched time.Time
}

// getSecret reads one Secret from the API server (kubeclient.Client.Secret).
type getSecret func(ctx context.Context, namespace, name string) (*corev1.Secret, error)

func newSecretCache(get getSecret, ttl time.Duration) *secretCache {
	return &secretCache{get: get, ttl: ttl, now: time.Now, entries: map[string]secretEntry{}}
}

// password returns the value of ref's key. Errors name the Secret and key,
// never the value.
func (c *secretCache) password(ref peering.SecretRef) (string, error) {
	id := ref.Namespace + "/" + ref.Name
	e, ok := c.entries[id]
	if !ok || c.now().Sub(e.fetched) >= c.ttl {
		e = c.fetch(ref.Namespace, ref.Name, e, ok)
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

// fetch reads a Secret again; old (if had) is what the cache held.
func (c *secretCache) fetch(namespace, name string, old secretEntry, had bool) secretEntry {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s, err := c.get(ctx, namespace, name)
	cancel()
	switch {
	case err == nil:
		return secretEntry{fetched: c.now(), data: s.Data}
	case had && old.err == nil && !apierrors.IsNotFound(err):
		// The API is unreachable, not the Secret gone: keep what we
		// read until the next try, so a blip does not tear down the
		// sessions it signs (the API check reports the outage).
		old.fetched = c.now()
		return old
	default:
		return secretEntry{fetched: c.now(), err: err}
	}
}

// refreshDue reads again every Secret read more than ttl ago, as a pass
// asking for it would, and tells whether any now differs (its data, or
// whether it can be read): a quiet node loop tick that reads no password
// still notices a rotated one within --routes-sync-period.
func (c *secretCache) refreshDue() (changed bool) {
	for id, old := range c.entries {
		if c.now().Sub(old.fetched) < c.ttl {
			continue
		}
		namespace, name, _ := strings.Cut(id, "/")
		e := c.fetch(namespace, name, old, true)
		c.entries[id] = e
		if (e.err == nil) != (old.err == nil) || !maps.EqualFunc(e.data, old.data, bytes.Equal) {
			changed = true
		}
	}
	return changed
}
