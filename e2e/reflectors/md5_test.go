//go:build e2e

package reflectors

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodebgp/router/e2e/e2eutil"
	"github.com/nodebgp/router/e2e/lab"
)

// signedTimeout bounds the wait for every reflector session to be
// Established and signed once the mesh password Secret exists.
const signedTimeout = 90 * time.Second

// prepareMeshPassword writes the mesh password Secret, which the agents
// (already running: Up starts them) read on their next pass, and waits
// until every session of the reflector design is Established on a socket
// signed for its peer.
func prepareMeshPassword(ctx context.Context, l *lab.Lab) error {
	cs, err := l.CP.Client()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: passwordSecretName, Namespace: passwordSecretNamespace},
		Data:       map[string][]byte{"password": []byte(meshPassword)},
	}
	fmt.Printf("reflectors: Secret %s/%s with the mesh password (key \"password\")\n", passwordSecretNamespace, passwordSecretName)
	secrets := cs.CoreV1().Secrets(passwordSecretNamespace)
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("writing Secret %s/%s: %w", passwordSecretNamespace, passwordSecretName, err)
	}
	took, err := e2eutil.WaitFor(signedTimeout, time.Second, "every reflector session Established and signed", func() error {
		return checkSignedCluster(ctx, l)
	})
	if err != nil {
		return err
	}
	fmt.Printf("reflectors: every reflector session Established and TCP-MD5 signed %s after the Secret was written\n", took.Round(100*time.Millisecond))
	return nil
}

// checkSignedCluster: every node has exactly its reflector-design
// neighbors, Established, each on a socket signed for the peer.
func checkSignedCluster(ctx context.Context, l *lab.Lab) error {
	for _, n := range l.Nodes {
		want := expectedPeers(n.Number)
		nbs, err := e2eutil.BGPNeighbors(ctx, l, n)
		if err != nil {
			return err
		}
		if err := checkNeighbors(n, nbs, want); err != nil {
			return err
		}
		if _, err := checkSigned(ctx, n, want); err != nil {
			return err
		}
	}
	return nil
}

// checkSigned: node has an established TCP connection on port 179 with
// each peer in want, and every such connection (to anyone) has a TCP-MD5
// key for its peer. It returns the connections.
func checkSigned(ctx context.Context, node *lab.Node, want []netip.Addr) ([]bgpSocket, error) {
	socks, err := bgpSockets(ctx, node.Netns, "established", meshPassword)
	if err != nil {
		return nil, err
	}
	for _, s := range socks {
		if !s.signedFor(s.Remote.Addr()) {
			return nil, fmt.Errorf("%s: BGP connection %s has no TCP-MD5 key for its peer", node.Name, s)
		}
	}
	for _, p := range want {
		if !slices.ContainsFunc(socks, func(s bgpSocket) bool { return s.Remote.Addr() == p }) {
			return nil, fmt.Errorf("%s: no established TCP connection with %s on port 179 (have %v)", node.Name, p, socks)
		}
	}
	return socks, nil
}

// checkListenerSigned: node's BGP listener has a TCP-MD5 key for each peer
// in want, so the kernel drops an unsigned connection attempt claiming to
// be one of them before BGP sees it.
func checkListenerSigned(ctx context.Context, node *lab.Node, want []netip.Addr) ([]bgpSocket, error) {
	socks, err := bgpSockets(ctx, node.Netns, "listening", meshPassword)
	if err != nil {
		return nil, err
	}
	if len(socks) == 0 {
		return nil, fmt.Errorf("%s: nothing listens on port 179", node.Name)
	}
	for _, s := range socks {
		for _, p := range want {
			if !s.signedFor(p) {
				return nil, fmt.Errorf("%s: listener %s has no TCP-MD5 key for %s", node.Name, s, p)
			}
		}
	}
	return socks, nil
}

// testSigned: with every agent on --mesh-password-secret, every session of
// the reflector design is Established (gobgp) on a TCP connection that the
// kernel signs with a key for that peer (`ss -tni` md5keys), no BGP
// connection is unsigned, and each node's listener holds a key for each of
// its peers.
func testSigned(t *testing.T) {
	l := suite.Lab(t)
	ctx := e2eutil.TestContext(t, time.Minute)
	for _, n := range l.Nodes {
		want := expectedPeers(n.Number)
		e2eutil.LogStep(t, "%s: ss -tni port 179: an established connection with each of %v, each with a TCP-MD5 key for its peer, and none without", n.Name, want)
		var socks []bgpSocket
		e2eutil.Eventually(t, 30*time.Second, time.Second, n.Name+" signed BGP connections", func() error {
			nbs, err := e2eutil.BGPNeighbors(ctx, l, n)
			if err != nil {
				return err
			}
			if err := checkNeighbors(n, nbs, want); err != nil {
				return err
			}
			socks, err = checkSigned(ctx, n, want)
			return err
		})
		for _, s := range socks {
			t.Logf("%s: established %s", n.Name, s)
		}
		e2eutil.LogStep(t, "%s: ss -tnl port 179: the listener has a TCP-MD5 key for each of %v", n.Name, want)
		listeners, err := checkListenerSigned(ctx, n, want)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range listeners {
			t.Logf("%s: listening %s", n.Name, s)
		}
	}
}
