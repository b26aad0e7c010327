package faults

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idleConns returns how many connections c keeps.
func (c *Client) idleConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// waitIdle polls until c keeps n connections, for up to 10 s.
func waitIdle(t *testing.T, c *Client, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.idleConns() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections after 10 s, want %d", c.idleConns(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIdleWatch: a kept connection the server closes is dropped before a
// request could use it, so that even a POST, which is never sent twice,
// goes on a new connection.
func TestIdleWatch(t *testing.T) {
	var conns atomic.Int32
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	c := &Client{URL: hs.URL}
	ctx := context.Background()
	for i := range 3 {
		if err := c.Stop(ctx); err != nil {
			t.Fatalf("Stop %d: %v", i, err)
		}
		waitIdle(t, c, 1)
		hs.CloseClientConnections()
		waitIdle(t, c, 0)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestMaxIdleConns: of concurrent requests' connections, MaxIdleConns are
// kept (2 when 0, none when negative) and reused by the next ones.
func TestMaxIdleConns(t *testing.T) {
	for _, tc := range []struct{ max, kept int }{{0, 2}, {3, 3}, {-1, 0}} {
		const n = 4
		var conns atomic.Int32
		var arrived sync.WaitGroup
		arrived.Add(n)
		hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/nodes" {
				arrived.Done()
				arrived.Wait() // all n at once, so on n connections
			}
			_, _ = io.WriteString(w, "[]")
		}))
		hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		hs.Start()
		c := &Client{URL: hs.URL, MaxIdleConns: tc.max}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := c.Nodes(context.Background()); err != nil {
					t.Errorf("Nodes: %v", err)
				}
			})
		}
		wg.Wait()
		if got := c.idleConns(); got != tc.kept {
			t.Errorf("MaxIdleConns %d: %d kept, want %d", tc.max, got, tc.kept)
		}
		for range tc.kept {
			if _, err := c.Faults(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got := conns.Load(); got != n {
			t.Errorf("MaxIdleConns %d: %d connections, want %d", tc.max, got, n)
		}
		c.CloseIdle()
		if got := c.idleConns(); got != 0 {
			t.Errorf("after CloseIdle: %d kept", got)
		}
		hs.Close()
	}
}
