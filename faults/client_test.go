package faults_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// rawServer accepts connections on loopback and hands each to serve in
// its own goroutine, with its number from 0; it counts them.
type rawServer struct {
	addr  string
	conns atomic.Int32
}

func newRawServer(t *testing.T, serve func(c net.Conn, n int)) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close() // those a Client keeps
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			n := int(s.conns.Add(1)) - 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, n)
			}()
		}
	}()
	return s
}

// replyEach reads requests from c and writes reply to each, until the
// client leaves.
func replyEach(c net.Conn, reply string) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// countConns returns a server of h that counts the connections it accepts.
func countConns(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	hs := httptest.NewUnstartedServer(h)
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, &n
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClientReplyFraming: each way a reply's body can end, read through
// Metrics twice, and whether the second request reused the connection.
func TestClientReplyFraming(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		// closes is whether the server closes the connection after a
		// reply; conns is how many the 2 requests take.
		closes bool
		conns  int32
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nup 1\ndown 2", false, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"4;a=b\r\nup 1\r\n1\r\n\n\r\n6 ; x\r\ndown 2\r\n0\r\nX-Trailer: yes\r\nX-Other: no\r\n\r\n", false, 1},
		{"close-delimited", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nup 1\ndown 2", true, 2},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\nup 1\ndown 2", false, 2},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nup 1\ndown 2", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, _ int) {
				if !tc.closes {
					replyEach(c, tc.reply)
				} else if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.WriteString(c, tc.reply)
				}
			})
			cl := &faults.Client{URL: "http://" + srv.addr}
			ctx := testCtx(t)
			for i := range 2 {
				text, err := cl.Metrics(ctx)
				if err != nil || text != "up 1\ndown 2" {
					t.Fatalf("Metrics %d = %q, %v; want %q", i, text, err, "up 1\ndown 2")
				}
			}
			if n := srv.conns.Load(); n != tc.conns {
				t.Errorf("%d connections for 2 requests, want %d", n, tc.conns)
			}
		})
	}
}

// TestClientRequest: the bytes of a request, with a body and a token.
func TestClientRequest(t *testing.T) {
	got := make(chan string, 1)
	srv := newRawServer(t, func(c net.Conn, _ int) {
		req := "POST /faults HTTP/1.1\r\nHost: " + c.LocalAddr().String() + "\r\nUser-Agent: chaos-epmd\r\n" +
			"Authorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"spec\":\"drop\"}"
		b := make([]byte, len(req))
		if _, err := io.ReadFull(c, b); err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
		reply := `{"id":7,"spec":"drop","fired":0}`
		fmt.Fprintf(c, "HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s", len(reply), reply)
	})
	info, err := (&faults.Client{URL: "http://" + srv.addr + "/", Token: "s3cret"}).Add(testCtx(t), "drop")
	want := "POST /faults HTTP/1.1\r\nHost: " + srv.addr + "\r\nUser-Agent: chaos-epmd\r\n" +
		"Authorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"spec\":\"drop\"}"
	if req := <-got; req != want {
		t.Errorf("request:\n%q\nwant\n%q", req, want)
	}
	if err != nil || info.ID != 7 || info.Spec != "drop" {
		t.Errorf("Add = %+v, %v", info, err)
	}
}

// TestClientKeepAlive: sequential requests of every method share one
// connection with Go's server, and concurrent ones keep at most
// MaxIdleConns between them.
func TestClientKeepAlive(t *testing.T) {
	hs, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "GET":
			_, _ = io.WriteString(w, "[]")
		case "POST":
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		case "DELETE":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	cl := &faults.Client{URL: hs.URL}
	ctx := testCtx(t)
	for i := range 10 {
		var err error
		switch i % 3 {
		case 0:
			_, err = cl.Faults(ctx)
		case 1:
			err = cl.Stop(ctx)
		case 2:
			err = cl.Clear(ctx)
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 10 sequential requests, want 1", n)
	}
}

// TestClientIdleClosedByServer: when the server closes a kept connection,
// the next request goes on a new one, whether the Client noticed the
// close before (Go's server closing it) or only by sending on it (a
// server that reads the next request and closes).
func TestClientIdleClosedByServer(t *testing.T) {
	t.Run("closed while idle", func(t *testing.T) {
		hs, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "[]")
		}))
		cl := &faults.Client{URL: hs.URL}
		ctx := testCtx(t)
		for i := range 3 {
			if _, err := cl.Faults(ctx); err != nil {
				t.Fatalf("Faults %d: %v", i, err)
			}
			hs.CloseClientConnections()
		}
		if n := conns.Load(); n != 3 {
			t.Errorf("%d connections, want 3", n)
		}
	})
	// closeSecond serves one request per connection, and on the first
	// connection reads a second request and closes without a reply.
	closeSecond := func(c net.Conn, n int) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil || n == 0 && i == 1 {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			reply := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
			if req.Method == "POST" {
				reply = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
			}
			_, _ = io.WriteString(c, reply)
		}
	}
	t.Run("GET is sent again", func(t *testing.T) {
		srv := newRawServer(t, closeSecond)
		cl := &faults.Client{URL: "http://" + srv.addr}
		ctx := testCtx(t)
		for i := range 2 {
			if _, err := cl.Faults(ctx); err != nil {
				t.Fatalf("Faults %d: %v", i, err)
			}
		}
		if n := srv.conns.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
	t.Run("POST is not", func(t *testing.T) {
		srv := newRawServer(t, closeSecond)
		cl := &faults.Client{URL: "http://" + srv.addr}
		ctx := testCtx(t)
		if err := cl.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		err := cl.Stop(ctx)
		want := "admin POST /stop: kept-alive connection to " + srv.addr + " closed before a reply: EOF"
		if err == nil || err.Error() != want || errors.Is(err, faults.ErrNotHTTP) {
			t.Errorf("second Stop: %v, want %q", err, want)
		}
		if err := cl.Stop(ctx); err != nil {
			t.Errorf("third Stop: %v", err)
		}
		if n := srv.conns.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
}

// TestClientEventsCancel: ending ctx in the middle of a followed /events
// stream, while fn runs or while the stream is quiet, ends Events at once
// with ctx's error.
func TestClientEventsCancel(t *testing.T) {
	release := make(chan struct{})
	hs, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "{\"seq\":%d,\"type\":\"fault\"}\n", i)
		}
		w.(http.Flusher).Flush()
		select { // the stream stays open, quiet
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	for _, inFn := range []bool{true, false} {
		t.Run(fmt.Sprintf("in fn %v", inFn), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var seqs []uint64
			done := make(chan error, 1)
			third := make(chan struct{})
			go func() {
				done <- (&faults.Client{URL: hs.URL}).Events(ctx, 0, true, func(ev faults.Event) error {
					seqs = append(seqs, ev.Seq)
					if ev.Seq == 3 {
						if inFn {
							cancel()
						}
						close(third)
					}
					return nil
				})
			}()
			select {
			case <-third:
			case <-time.After(10 * time.Second):
				t.Fatal("no third event within 10 s")
			}
			cancel()
			select {
			case err := <-done:
				if err != context.Canceled {
					t.Errorf("Events: %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Events still running 5 s after ctx ended")
			}
			if fmt.Sprint(seqs) != "[1 2 3]" {
				t.Errorf("events %v, want [1 2 3]", seqs)
			}
		})
	}
}

// TestClientCancel: ending ctx while the server holds back its reply,
// or past Timeout, ends the request with ctx's error.
func TestClientCancel(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, _ int) {
		_, _ = io.Copy(io.Discard, c) // never answers
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := (&faults.Client{URL: "http://" + srv.addr}).Faults(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "admin GET /faults: context deadline exceeded" {
		t.Errorf("Faults past ctx's deadline: %v", err)
	}
	_, err = (&faults.Client{URL: "http://" + srv.addr, Timeout: 50 * time.Millisecond}).Nodes(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "admin GET /nodes: context deadline exceeded" {
		t.Errorf("Nodes past Timeout: %v", err)
	}
}

// TestClientNotHTTPPeers: a peer that accepts and then closes, resets or
// answers something other than HTTP is said not to answer HTTP.
func TestClientNotHTTPPeers(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"closes at once", func(c net.Conn) {}},
		{"closes after the request", func(c net.Conn) { _, _ = http.ReadRequest(bufio.NewReader(c)) }},
		{"resets", func(c net.Conn) {
			_, _ = http.ReadRequest(bufio.NewReader(c))
			_ = c.(*net.TCPConn).SetLinger(0)
		}},
		{"resets at once", func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0) }},
		{"epmd-like bytes", func(c net.Conn) { _, _ = c.Write([]byte{0, 1, 'y', 0, 0}) }},
		{"a line of text", func(c net.Conn) { _, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n") }},
		{"endless garbage", func(c net.Conn) { _, _ = io.WriteString(c, long) }},
		{"cut in the header", func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, _ int) { tc.serve(c) })
			want := "admin GET /faults: " + srv.addr + " did not answer HTTP: is it the admin address (-admin), not the epmd port?"
			for _, timeout := range []time.Duration{0, 5 * time.Second} {
				_, err := (&faults.Client{URL: "http://" + srv.addr, Timeout: timeout}).Faults(testCtx(t))
				if !errors.Is(err, faults.ErrNotHTTP) || err.Error() != want {
					t.Errorf("Faults with Timeout %v: %v, want %q", timeout, err, want)
				}
			}
		})
	}
}

// TestClientHeaderBound: a reply header over 64 KiB is refused.
func TestClientHeaderBound(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, _ int) {
		replyEach(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("x", 64<<10)+"\r\nContent-Length: 2\r\n\r\n[]")
	})
	_, err := (&faults.Client{URL: "http://" + srv.addr}).Faults(testCtx(t))
	if want := "admin GET /faults: reply header over 65536 bytes"; err == nil || err.Error() != want {
		t.Errorf("Faults: %v, want %q", err, want)
	}
}

// TestClientURL: only http://HOST:PORT is accepted, and the error says so
// before anything is dialled.
func TestClientURL(t *testing.T) {
	for _, tc := range []struct{ url, why string }{
		{"https://127.0.0.1:4380", "https is not supported"},
		{"127.0.0.1:4380", "no scheme"},
		{"localhost:4380", "no scheme"},
		{"", "no scheme"},
		{"ftp://127.0.0.1:4380", "ftp is not supported"},
		{"http://127.0.0.1", "no port"},
		{"http://127.0.0.1:", "no port"},
		{"http://:4380", "no host"},
		{"http://127.0.0.1:4380/admin", "more than a host and port"},
		{"http://127.0.0.1:4380/?x=1", "more than a host and port"},
		{"http://u:p@127.0.0.1:4380", "more than a host and port"},
		{"http://127.0.0.1:43x0", "not a URL"},
		{"://127.0.0.1:4380", "not a URL"},
	} {
		_, err := (&faults.Client{URL: tc.url}).Faults(context.Background())
		want := fmt.Sprintf("admin GET /faults: URL %q: %s; want http://HOST:PORT", tc.url, tc.why)
		if err == nil || err.Error() != want {
			t.Errorf("URL %q: %v, want %q", tc.url, err, want)
		}
	}
}

// TestClientRefused: a refused connection gives the dial error.
func TestClientRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	want := "admin GET /faults: dial tcp " + addr + ": connect: connection refused"
	// With a Timeout too: the error is the dial's, not the timeout's
	// context (cancelled once the request has failed).
	for _, timeout := range []time.Duration{0, 5 * time.Second} {
		_, err = (&faults.Client{URL: "http://" + addr, Timeout: timeout}).Faults(testCtx(t))
		if err == nil || err.Error() != want || errors.Is(err, faults.ErrNotHTTP) {
			t.Errorf("Faults with Timeout %v: %v, want %q", timeout, err, want)
		}
	}
}
