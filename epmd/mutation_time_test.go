package epmd_test

// Timing tests in virtual time (testing/synctest) over in-memory
// connections: the packet timeout's C rounding, -delay_accept,
// -delay_write and Sleep, each asserted to the exact duration.

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// memListener is a net.Listener of net.Pipe connections that look like
// loopback TCP to the server.
type memListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4369} }

type memConn struct {
	net.Conn
	local, remote net.Addr
}

func (c memConn) LocalAddr() net.Addr  { return c.local }
func (c memConn) RemoteAddr() net.Addr { return c.remote }

// dial returns the client end of a new connection from 127.0.0.1.
func (l *memListener) dial() net.Conn {
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4369}
	c, s := net.Pipe()
	l.conns <- memConn{Conn: s, local: server, remote: client}
	return memConn{Conn: c, local: client, remote: server}
}

// serveInBubble serves s on a memListener until the bubble's test ends;
// call it inside synctest.Test.
func serveInBubble(t *testing.T, s *epmd.Server) *memListener {
	t.Helper()
	l := newMemListener()
	go func() { _ = s.Serve(l) }()
	synctest.Wait()
	t.Cleanup(func() {
		_ = s.Close()
		_ = l.Close()
		synctest.Wait()
	})
	return l
}

// piece is one read of a reply, at its time since the request was sent.
type piece struct {
	at   time.Duration
	data string
}

// readPieces reads conn until it ends and returns each read with its time
// since start, and whether it ended with EOF (a close by the server).
func readPieces(conn net.Conn, start time.Time) ([]piece, bool) {
	var got []piece
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			got = append(got, piece{time.Since(start), string(buf[:n])})
		}
		if err != nil {
			return got, errors.Is(err, io.EOF)
		}
	}
}

// TestPacketTimeoutRounding: an idle connection is closed after the C
// epmd's N+1 s for whole seconds below 5, after N+1 s rounded up to 5 s
// from 5 s on, and after exactly the duration otherwise.
func TestPacketTimeoutRounding(t *testing.T) {
	tests := []struct {
		name       string
		server     time.Duration // Server.PacketTimeout
		middleware time.Duration // epmd.PacketTimeout middleware, 0 for none
		want       time.Duration
	}{
		{name: "200ms exact", server: 200 * time.Millisecond, want: 200 * time.Millisecond},
		{name: "1500ms exact", server: 1500 * time.Millisecond, want: 1500 * time.Millisecond},
		{name: "1s is 2s", server: time.Second, want: 2 * time.Second},
		{name: "4s is 5s", server: 4 * time.Second, want: 5 * time.Second},
		{name: "5s is 10s", server: 5 * time.Second, want: 10 * time.Second},
		{name: "9s is 10s", server: 9 * time.Second, want: 10 * time.Second},
		{name: "10s is 15s", server: 10 * time.Second, want: 15 * time.Second},
		{name: "default 60s is 65s", want: 65 * time.Second},
		{name: "middleware 3s over the server's 9s", server: 9 * time.Second, middleware: 3 * time.Second, want: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &epmd.Server{PacketTimeout: tt.server}
				if tt.middleware != 0 {
					s.Middleware = []epmd.Middleware{epmd.PacketTimeout(tt.middleware)}
				}
				l := serveInBubble(t, s)
				start := time.Now()
				conn := l.dial()
				defer conn.Close()
				got, eof := readPieces(conn, start)
				if len(got) != 0 || !eof {
					t.Fatalf("idle connection read %v, EOF %t; want a close", got, eof)
				}
				if d := time.Since(start); d != tt.want {
					t.Errorf("closed after %v, want %v", d, tt.want)
				}
			})
		})
	}
}

// TestPacketTimeoutRestartsOnData: the timeout counts from the last
// bytes received, not from the accept.
func TestPacketTimeoutRestartsOnData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := serveInBubble(t, &epmd.Server{PacketTimeout: time.Second})
		start := time.Now()
		conn := l.dial()
		defer conn.Close()
		time.Sleep(1500 * time.Millisecond)
		if _, err := conn.Write([]byte{0}); err != nil { // half a length prefix
			t.Fatal(err)
		}
		got, eof := readPieces(conn, start)
		if len(got) != 0 || !eof {
			t.Fatalf("read %v, EOF %t; want a close", got, eof)
		}
		if d := time.Since(start); d != 3500*time.Millisecond {
			t.Errorf("closed after %v, want 3.5s (2s after the byte at 1.5s)", d)
		}
	})
}

func TestDelayAcceptHoldsTheConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := serveInBubble(t, &epmd.Server{Port: 4369, Middleware: []epmd.Middleware{epmd.DelayAccept(3 * time.Second)}})
		start := time.Now()
		conn := l.dial()
		defer conn.Close()
		go func() { _, _ = conn.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})) }()
		got, eof := readPieces(conn, start)
		want := []piece{{3 * time.Second, "\x00\x00\x11\x11"}}
		if !eof || len(got) != 1 || got[0] != want[0] {
			t.Errorf("NAMES under delay_accept 3s: %v (EOF %t), want %v then EOF", got, eof, want)
		}
	})
}

// TestDelayAcceptOnlyAtAccept: a middleware seeing a request that is not
// the accept passes it on at once.
func TestDelayAcceptOnlyAtAccept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		called := time.Duration(-1)
		start := time.Now()
		h := epmd.DelayAccept(time.Hour)(epmd.HandlerFunc(func(context.Context, epmd.ResponseWriter, *epmd.Request) {
			called = time.Since(start)
		}))
		h.ServeEPMD(context.Background(), nil, &epmd.Request{Kind: epmd.KindNames})
		if called != 0 {
			t.Errorf("NAMES passed on after %v, want 0", called)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called = -1
		h.ServeEPMD(ctx, nil, &epmd.Request{Kind: epmd.KindAccept})
		if called != -1 {
			t.Errorf("accept passed on after the server's context ended (at %v)", called)
		}
	})
}

func TestDelayWriteSleepsBeforeEachWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &epmd.Server{Port: 4369, Middleware: []epmd.Middleware{epmd.DelayWrite(2 * time.Second)}}
		l := serveInBubble(t, s)
		for _, name := range []string{"a", "b"} {
			if _, err := s.NodeTable().Register(epmd.Node{Name: name, PortNo: 7}); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		conn := l.dial()
		defer conn.Close()
		go func() { _, _ = conn.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})) }()
		got, eof := readPieces(conn, start)
		want := []piece{
			{2 * time.Second, "\x00\x00\x11\x11"},
			{4 * time.Second, "name b at port 7\n"},
			{6 * time.Second, "name a at port 7\n"},
		}
		if !eof || len(got) != len(want) {
			t.Fatalf("NAMES under delay_write 2s: %v (EOF %t), want %v then EOF", got, eof, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("write %d: %v, want %v", i, got[i], want[i])
			}
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := epmd.Sleep(context.Background(), 0); err != nil || time.Since(start) != 0 {
			t.Errorf("Sleep(0) = %v after %v, want nil at once", err, time.Since(start))
		}
		if err := epmd.Sleep(context.Background(), 5*time.Second); err != nil || time.Since(start) != 5*time.Second {
			t.Errorf("Sleep(5s) = %v after %v, want nil after 5s", err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		if err := epmd.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Errorf("Sleep(1h) cancelled at 1s = %v after %v, want %v after 1s", err, time.Since(start), context.Canceled)
		}
		// A zero sleep reports an ended context every time, not by chance.
		for range 32 {
			if err := epmd.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
				t.Fatalf("Sleep(ended, 0) = %v, want %v", err, context.Canceled)
			}
		}
	})
}
