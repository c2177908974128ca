package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startServe(ctx context.Context, addr string, h http.Handler) <-chan error {
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, h) }()
	return done
}

// waitServing polls addr, bounded to 100 tries over about 2s.
func waitServing(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// waitListenerClosed waits until addr refuses connections: Shutdown has
// begun (it closes the listener first), so whatever is in flight now is
// drained, not merely not yet cancelled. Bounded to 500 tries over about 5s.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections after cancel", addr)
}

func awaitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownTimeout + 2*time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestServeServesUntilCancelled(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startServe(ctx, addr, New().Handler())
	waitServing(t, "http://"+addr+"/healthz")

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}

	cancel()
	if err := awaitServe(t, done); err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("listener still accepts connections after shutdown")
	}
}

func TestServeLetsInFlightRequestsFinish(t *testing.T) {
	addr := freeAddr(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startServe(ctx, addr, slow)
	waitServing(t, "http://"+addr+"/")

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never reached the handler")
	}
	cancel()
	waitListenerClosed(t, addr)
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a request still in flight", err)
	default:
	}
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q, want \"done\"", body)
	}
	if err := awaitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestServeListenErrorNamesAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	err = Serve(context.Background(), addr, New().Handler())
	if err == nil || !strings.Contains(err.Error(), "health listener on "+addr) {
		t.Errorf("Serve on a taken port = %v, want an error naming %s", err, addr)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Serve error %v does not wrap the listen error", err)
	}
}
