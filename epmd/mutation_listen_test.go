package epmd_test

// Listening and serving several listeners, the end of a registration
// connection in the log, Strerror, and the connection hooks middleware
// uses (see make mutate).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestListenAndServeOnPort: ListenAndServe binds Address and Port (not
// the default port) and serves until Close.
func TestListenAndServeOnPort(t *testing.T) {
	port := epmdtest.Port(t)
	s := &epmd.Server{Address: "127.0.0.1", Port: port}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe() }()
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: ioTimeout}
	var p int
	var err error
	waitFor(t, "the server listening", func() bool {
		p, _, err = c.Names(context.Background())
		return err == nil
	})
	if p != port {
		t.Errorf("NAMES reports port %d, want %d", p, port)
	}
	_ = s.Close()
	if err := <-done; !errors.Is(err, epmd.ErrServerClosed) {
		t.Errorf("ListenAndServe = %v, want %v", err, epmd.ErrServerClosed)
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	s := &epmd.Server{Address: "not-an-address", Port: epmdtest.Port(t)}
	if err := s.ListenAndServe(); err == nil || err.Error() != `cannot parse IP address "not-an-address"` {
		t.Errorf("ListenAndServe = %v, want the parse error", err)
	}
}

// TestListenForeignAddress: an explicit address that is not this host's
// cannot be bound, and that is fatal (only the implicit loopbacks may
// fail); the loopbacks already bound are closed again.
func TestListenForeignAddress(t *testing.T) {
	port := epmdtest.Port(t)
	ls, err := epmd.Listen(context.Background(), "192.0.2.1", port, nil)
	want := "failed to bind on ipaddr 192.0.2.1: Cannot assign requested address"
	if !errors.Is(err, epmd.ErrBind) || err.Error() != want || ls != nil {
		t.Fatalf("Listen(192.0.2.1) = %v, %v; want %q wrapping ErrBind", ls, err, want)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("the loopback listener was left open: %v", err)
	}
	l.Close()
}

// TestServeAllReturnsTheFirstError: when one listener fails, the server
// closes and ServeAll returns that failure, not the others' close.
func TestServeAllReturnsTheFirstError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		bad := &scriptedListener{memListener: newMemListener(), start: time.Now(), script: []error{boom}}
		good := newMemListener()
		s := &epmd.Server{}
		if err := s.ServeAll([]net.Listener{good, bad}); !errors.Is(err, boom) {
			t.Errorf("ServeAll = %v, want %v", err, boom)
		}
		select {
		case <-s.Done():
		default:
			t.Error("server not closed after a listener failed")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		s := &epmd.Server{}
		done := make(chan error, 1)
		go func() { done <- s.ServeAll([]net.Listener{newMemListener(), newMemListener()}) }()
		synctest.Wait()
		_ = s.Close()
		if err := <-done; !errors.Is(err, epmd.ErrServerClosed) {
			t.Errorf("ServeAll after Close = %v, want %v", err, epmd.ErrServerClosed)
		}
	})
}

func TestStrerror(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{name: "errno", v: syscall.ECONNRESET, want: "Connection reset by peer"},
		{name: "wrapped errno", v: &net.OpError{Op: "read", Err: syscall.EPIPE}, want: "Broken pipe"},
		{name: "other error", v: errors.New("boom"), want: "boom"},
		{name: "not an error", v: 42, want: "42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epmd.Strerror(tt.v); got != tt.want {
				t.Errorf("Strerror(%v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}

// TestRegistrationEndLogged: at -d the end of a registration connection
// is logged when it carried data (with its dump at -d -d) or failed; a
// plain close (EOF) is not. The data is all that arrived, whether the
// watcher's loop read it (the bare protocol) or a goroutine did (behind
// middleware, which may wait).
func TestRegistrationEndLogged(t *testing.T) {
	pass := func(next epmd.Handler) epmd.Handler { return next }
	for _, mw := range []struct {
		name string
		mw   []epmd.Middleware
	}{{"bare", nil}, {"middleware", []epmd.Middleware{pass}}} {
		t.Run(mw.name, func(t *testing.T) { testRegistrationEndLogged(t, mw.mw) })
	}
}

func testRegistrationEndLogged(t *testing.T, mw []epmd.Middleware) {
	fdLine := regexp.MustCompile(`socket \d+`)
	tests := []struct {
		name  string
		debug int
		end   func(net.Conn)
		want  []string
	}{
		{name: "data at -d", debug: 1, end: func(c net.Conn) { _, _ = c.Write([]byte("xyz")) },
			want: []string{"epmd: got more than expected on ALIVE socket FD (3)"}},
		{name: "data at -d -d", debug: 2, end: func(c net.Conn) { _, _ = c.Write([]byte("xy")) },
			want: []string{"epmd: got more than expected on ALIVE socket FD (2)", "epmd: got 2 bytes",
				"***** 00000000  78 79                                             |xy|"}},
		{name: "reset at -d", debug: 1, end: func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0); c.Close() },
			want: []string{"epmd: error on ALIVE socket FD (-1; errno=0x68)"}},
		{name: "close at -d", debug: 1, end: func(c net.Conn) { c.Close() }},
		{name: "data at no -d", debug: 0, end: func(c net.Conn) { _, _ = c.Write([]byte("xy")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			s := &epmd.Server{Logger: slog.New(epmd.NewDebugHandler(&logs, tt.debug)), Middleware: mw}
			addr := startServer(t, s)
			conn, _ := register(t, addr, &epmd.Alive2Req{PortNo: 7, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "ends"})
			if tt.debug >= 1 { // the reply's log line follows the reply
				seen := ""
				waitFor(t, "the ALIVE2 reply logged", func() bool {
					seen += logs.take()
					return strings.Contains(seen, `** sent ALIVE2_RESP for "ends"`)
				})
			}
			logs.take()
			tt.end(conn)
			waitFor(t, "ends unregistered", func() bool { _, ok := s.NodeTable().Lookup("ends"); return !ok })
			var got []string
			for _, l := range cLines(logs.take()) {
				l = fdLine.ReplaceAllString(l, "socket FD")
				if tt.debug >= 1 && (regexpUnreg.MatchString(l) || l == "epmd: " || regexpClose.MatchString(l)) {
					continue // the unregistering and closing lines, tested elsewhere
				}
				got = append(got, l)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("log %q, want %q", got, tt.want)
			}
		})
	}
}

var (
	regexpUnreg = regexp.MustCompile(`^(epmd: unregistering|\*\*\*\*\*     )`)
	regexpClose = regexp.MustCompile(`^epmd: closing connection`)
)

// TestNamesAfterQueuedBytes: a middleware that writes before the handler
// and passes the bare writer on gets its bytes first, then the NAMES
// reply.
func TestNamesAfterQueuedBytes(t *testing.T) {
	prefix := func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			if r.Kind == epmd.KindNames {
				_, _ = w.Write([]byte("pre:"))
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
	s := &epmd.Server{Port: 4369, Middleware: []epmd.Middleware{prefix}}
	addr := startServer(t, s)
	register(t, addr, &epmd.Alive2Req{PortNo: 7, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "q"})
	got := exchange(t, addr, []byte{0, 1, 'n'}, true)
	if want := "pre:\x00\x00\x11\x11name q at port 7\n"; string(got) != want {
		t.Errorf("NAMES = %q, want %q", got, want)
	}
}

// TestAwaitClose: a middleware holding a connection learns when the
// client gives up (nil) or the server shuts down (the context's error).
func TestAwaitClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		results := make(chan error, 2)
		hold := func(next epmd.Handler) epmd.Handler {
			return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
				if r.Kind == epmd.KindNames {
					results <- r.Conn.AwaitClose(ctx)
					return
				}
				next.ServeEPMD(ctx, w, r)
			})
		}
		s := &epmd.Server{Middleware: []epmd.Middleware{hold}}
		l := serveInBubble(t, s)
		c := l.dial()
		go func() { _, _ = c.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})) }()
		time.Sleep(time.Hour)
		go func() { _, _ = c.Write([]byte("more bytes are read and dropped")) }()
		synctest.Wait()
		select {
		case err := <-results:
			t.Fatalf("AwaitClose returned %v while the client is there", err)
		default:
		}
		c.Close()
		if err := <-results; err != nil {
			t.Errorf("AwaitClose after the client closed = %v, want nil", err)
		}
		c = l.dial()
		go func() { _, _ = c.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})) }()
		synctest.Wait()
		_ = s.Close()
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Errorf("AwaitClose at shutdown = %v, want %v", err, context.Canceled)
		}
		c.Close()
	})
}

// TestCloseReleasesEveryDescriptor: after Shutdown the server holds no
// descriptor: not its listener, not its connections, not the descriptor it
// keeps in reserve for shedding at the limit.
func TestCloseReleasesEveryDescriptor(t *testing.T) {
	// Descriptors as number -> target; earlier tests' descriptors may
	// still be closing, so the check is that nothing new stays open.
	fds := func() map[string]string {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[string]string, len(es))
		for _, e := range es {
			m[e.Name()], _ = os.Readlink("/proc/self/fd/" + e.Name())
		}
		return m
	}
	before := fds()
	s := &epmd.Server{}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	conn, _ := register(t, l.Addr().String(), &epmd.Alive2Req{PortNo: 7, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "fds"})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	conn.Close()
	for fd, target := range fds() {
		if before[fd] != target && fd != "" {
			// The ReadDir of /proc/self/fd has a descriptor of its own.
			if _, err := os.Readlink("/proc/self/fd/" + fd); err == nil {
				t.Errorf("descriptor %s (%s) open after Shutdown, not before the server", fd, target)
			}
		}
	}
}

// TestListenPlainTCP: the listening sockets are plain TCP, as the C
// epmd's are. Go makes a listener Multipath TCP by default (since Go
// 1.24) where the kernel has it; a client that asks for MPTCP would then
// get it from chaos-epmd and not from the C epmd.
func TestListenPlainTCP(t *testing.T) {
	ls, err := epmd.Listen(context.Background(), "127.0.0.1", epmdtest.Port(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, l := range ls {
		rc, err := l.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var proto int
		var serr error
		if err := rc.Control(func(fd uintptr) {
			proto, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		}); err != nil || serr != nil {
			t.Fatalf("SO_PROTOCOL of %v: %v, %v", l.Addr(), err, serr)
		}
		if proto != syscall.IPPROTO_TCP {
			t.Errorf("%v listens with protocol %d, want %d (TCP)", l.Addr(), proto, syscall.IPPROTO_TCP)
		}
		// A client asking for MPTCP falls back to TCP.
		if mp, err := epmdtest.DialMultipath(t, l.Addr().String()); mp || err != nil {
			t.Errorf("a client asking for MPTCP to %v: MultipathTCP() = %v, %v; want false, nil", l.Addr(), mp, err)
		}
	}
}
