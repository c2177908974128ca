package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// The API server on this machine takes at most about 500 kubelet-sized Node
// updates a second, while the agent's target is 1,000 (issue 12). The
// amplifier lets the agent see more than the API server can make: a TLS
// proxy (HTTP/2, like the API server) between the agent and the API server
// passes every request through and, in the agent's Node watch, follows each
// real MODIFIED event with copies of other real MODIFIED events of the same
// watch, taken from the most recent ones. A copy is byte for byte what the
// API server sent, so the agent decodes and handles it as it did the
// original: its cost per event is the cost of a real update. (A copy is an
// older version of another Node: the informer's cache holds it until that
// Node's next real event. The churn changes no routing fact, so no route
// depends on which version is held.)

// amplifierRecent is how many recent real MODIFIED events copies are taken
// from: about a quarter second of the churn, spread over as many Nodes.
const amplifierRecent = 128

type amplifier struct {
	upstream  *url.URL
	transport http.RoundTripper
	proxy     *httputil.ReverseProxy
	server    *http.Server
	listener  net.Listener

	// copies is the number of copies after each real MODIFIED event; 0
	// outside the churn window.
	copies atomic.Int32
	// events counts the Node watch events written to the agent, real ones
	// and copies.
	events atomic.Int64

	mu     sync.Mutex
	recent [][]byte // ring of the latest real MODIFIED events
	next   int
}

// startAmplifier listens on addr with the API server's own serving
// certificate (certDir/apiserver.crt and .key, valid for the address the
// API server binds, which addr shares) and forwards to upstream.
func startAmplifier(addr, upstream, certDir string) (*amplifier, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("amplifier: upstream %q: %w", upstream, err)
	}
	crt, key := filepath.Join(certDir, "apiserver.crt"), filepath.Join(certDir, "apiserver.key")
	cert, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("amplifier: serving cert: %w", err)
	}
	caPEM, err := os.ReadFile(crt)
	if err != nil {
		return nil, fmt.Errorf("amplifier: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("amplifier: %s: no PEM certificates", crt)
	}
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		MaxIdleConns:      100,
		IdleConnTimeout:   90 * time.Second,
	}
	a := &amplifier{upstream: u, transport: transport}
	a.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		Transport:     transport,
		FlushInterval: -1, // watches stream
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("amplifier: %w", err)
	}
	a.listener = ln
	a.server = &http.Server{
		Handler:           a,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := a.server.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "nodebench: amplifier:", err)
		}
	}()
	return a, nil
}

func (a *amplifier) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.server.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Watches never go idle: end them.
		err = a.server.Close()
	}
	a.transport.(*http.Transport).CloseIdleConnections()
	return err
}

// kubeconfig writes to out a copy of the kubeconfig in that points at the
// amplifier.
func (a *amplifier) kubeconfig(in, out string) error {
	cfg, err := clientcmd.LoadFromFile(in)
	if err != nil {
		return fmt.Errorf("amplifier: %w", err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + a.listener.Addr().String()
	}
	return clientcmd.WriteToFile(*cfg, out)
}

func (a *amplifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes" && (q.Get("watch") == "true" || q.Get("watch") == "1") {
		a.serveNodeWatch(w, r)
		return
	}
	a.proxy.ServeHTTP(w, r)
}

// serveNodeWatch passes a Node watch through event by event, with copies.
func (a *amplifier) serveNodeWatch(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = a.upstream.Scheme, a.upstream.Host
	out.Host = a.upstream.Host
	// The events are read here one by one: the agent's own Accept-Encoding
	// would hand a compressed body through; without it the transport
	// undoes any compression itself.
	out.Header.Del("Accept-Encoding")
	resp, err := a.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	if resp.StatusCode != http.StatusOK || flusher == nil || !jsonStream(resp.Header.Get("Content-Type")) {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	flusher.Flush()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev json.RawMessage
		if err := dec.Decode(&ev); err != nil {
			return
		}
		if !a.write(w, flusher, ev) {
			return
		}
		if bytes.HasPrefix(ev, []byte(`{"type":"MODIFIED"`)) {
			for _, c := range a.remember(ev, int(a.copies.Load())) {
				if !a.write(w, flusher, c) {
					return
				}
			}
		}
	}
}

func jsonStream(contentType string) bool {
	return contentType == "application/json" || bytes.HasPrefix([]byte(contentType), []byte("application/json;"))
}

// write sends one event and flushes it, as the API server does: each event
// in HTTP/2 frames of its own, none waiting to share a frame with the
// copies after it, which would make the agent's reading cheaper than a
// real stream's.
func (a *amplifier) write(w io.Writer, flusher http.Flusher, ev []byte) bool {
	if _, err := w.Write(ev); err != nil {
		return false
	}
	if _, err := w.Write([]byte{'\n'}); err != nil {
		return false
	}
	flusher.Flush()
	a.events.Add(1)
	return true
}

// remember keeps ev among the recent real events and returns n copies of
// the ones before it, newest first.
func (a *amplifier) remember(ev []byte, n int) [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.recent == nil {
		a.recent = make([][]byte, amplifierRecent)
	}
	var out [][]byte
	for i := 1; i <= n && i < amplifierRecent; i++ {
		if c := a.recent[(a.next-i+amplifierRecent)%amplifierRecent]; c != nil {
			out = append(out, c)
		}
	}
	a.recent[a.next] = bytes.Clone(ev)
	a.next = (a.next + 1) % amplifierRecent
	return out
}
