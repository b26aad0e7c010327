package epmd_test

// Server tests for what the loopback tests do not reach: the accept loop's
// handling of failed accepts (retry with backoff, shedding at the
// descriptor limit, giving up), the handler chain's order, and the small
// accessors of Kind and Request (see make mutate).

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// scriptedListener returns the errors of script, in order, from Accept,
// noting the (virtual) time of each call; then it serves connections from
// conns until closed.
type scriptedListener struct {
	*memListener
	start  time.Time
	mu     sync.Mutex
	script []error
	calls  []time.Duration
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Since(l.start))
	if len(l.script) > 0 {
		err := l.script[0]
		l.script = l.script[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.memListener.Accept()
}

// timeoutErr is an accept error that says it timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "accept timed out" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func opErr(err error) error { return &net.OpError{Op: "accept", Net: "tcp", Err: err} }

// records is a slog.Handler keeping each record as its message and its
// attributes, " key=value" each.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, line)
	return nil
}

func (h *records) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.lines)
}

// TestAcceptRetriesWithBackoff: temporary accept errors are logged and
// retried after 5 ms, then twice as long each time up to 1 s, and the
// server still serves afterwards; the backoff starts over after a
// successful accept.
func TestAcceptRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs records
		temporary := []error{opErr(timeoutErr{}), opErr(syscall.ENOBUFS), opErr(syscall.ENOMEM),
			opErr(syscall.ECONNABORTED), opErr(syscall.EAGAIN), opErr(timeoutErr{}), opErr(timeoutErr{}), opErr(timeoutErr{}), opErr(timeoutErr{})}
		l := &scriptedListener{memListener: newMemListener(), start: time.Now(), script: temporary}
		s := &epmd.Server{Port: 4369, Logger: slog.New(&logs)}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		conn := l.dial()
		got, eof := readPiecesAfter(conn, epmd.AppendFrame(nil, &epmd.NamesReq{}))
		if !eof || len(got) != 1 || got[0].data != "\x00\x00\x11\x11" {
			t.Fatalf("NAMES after the accept errors: %v (EOF %t)", got, eof)
		}
		// Backoffs 5, 10, 20, 40, 80, 160, 320, 640, 1000 ms.
		want := []time.Duration{0}
		at, step := time.Duration(0), 5*time.Millisecond
		for range temporary {
			at += step
			want = append(want, at)
			step = min(2*step, time.Second)
		}
		l.mu.Lock()
		calls := slices.Clone(l.calls)
		l.mu.Unlock()
		if !slices.Equal(calls[:len(want)], want) {
			t.Errorf("accept calls at %v, want %v", calls[:len(want)], want)
		}
		var accepts []string
		for _, line := range logs.get() {
			if strings.HasPrefix(line, "error in accept") {
				accepts = append(accepts, line)
			}
		}
		if len(accepts) != len(temporary) || accepts[1] != "error in accept err=accept tcp: no buffer space available" {
			t.Errorf("accept errors logged: %q", accepts)
		}
		// After a success the backoff starts again at 5 ms.
		l.mu.Lock()
		l.script = []error{opErr(timeoutErr{})}
		l.start = time.Now()
		l.calls = nil
		l.mu.Unlock()
		conn = l.dial() // served by the pending Accept; the next one fails
		conn.Close()
		synctest.Wait()
		conn = l.dial()
		conn.Close()
		l.mu.Lock()
		calls = slices.Clone(l.calls)
		l.mu.Unlock()
		if len(calls) < 2 || calls[1]-calls[0] != 5*time.Millisecond {
			t.Errorf("accept calls after a success at %v, want the retry 5ms after the failure", calls)
		}
		_ = s.Close()
		_ = l.Close()
		if err := <-done; !errors.Is(err, epmd.ErrServerClosed) {
			t.Errorf("Serve = %v, want %v", err, epmd.ErrServerClosed)
		}
	})
}

// readPiecesAfter sends req on conn and reads the reply until the end.
func readPiecesAfter(conn net.Conn, req []byte) ([]piece, bool) {
	go func() { _, _ = conn.Write(req) }()
	return readPieces(conn, time.Now())
}

// TestAcceptAtLimitWithNothingWaiting: at the descriptor limit with no
// connection to shed, the error is a temporary one: logged, retried after
// 5 ms.
func TestAcceptAtLimitWithNothingWaiting(t *testing.T) {
	tests := []struct {
		name string
		err  error
		text string
	}{
		{name: "EMFILE", err: syscall.EMFILE, text: "too many open files"},
		{name: "ENFILE", err: syscall.ENFILE, text: "too many open files in system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs records
				// The shed's own accept finds nothing (EAGAIN).
				l := &scriptedListener{memListener: newMemListener(), start: time.Now(), script: []error{opErr(tt.err), opErr(syscall.EAGAIN)}}
				s := &epmd.Server{Logger: slog.New(&logs)}
				done := make(chan error, 1)
				go func() { done <- s.Serve(l) }()
				time.Sleep(time.Second) // virtual: the retry is due long before
				l.mu.Lock()
				calls := slices.Clone(l.calls)
				l.mu.Unlock()
				if want := []time.Duration{0, 0, 5 * time.Millisecond}; !slices.Equal(calls, want) {
					t.Errorf("accept calls at %v, want %v", calls, want)
				}
				if want := []string{"error in accept err=accept tcp: " + tt.text}; !slices.Equal(logs.get(), want) {
					t.Errorf("log %q, want %q", logs.get(), want)
				}
				_ = s.Close()
				_ = l.Close()
				<-done
			})
		})
	}
}

// TestAcceptErrorStopsServe: an accept error that is neither temporary
// nor the listener's close ends Serve with that error.
func TestAcceptErrorStopsServe(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		err  error
	}{
		{name: "plain error", err: boom},
		{name: "connection reset", err: opErr(syscall.ECONNRESET)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &scriptedListener{memListener: newMemListener(), start: time.Now(), script: []error{tt.err}}
				s := &epmd.Server{}
				if err := s.Serve(l); !errors.Is(err, tt.err) {
					t.Errorf("Serve = %v, want %v", err, tt.err)
				}
				_ = s.Close()
			})
		})
	}
}

// shedListener fails its first Accept with EMFILE and then hands out the
// waiting connection, as the kernel does once the server freed its
// reserved descriptor.
type shedListener struct {
	*memListener
	mu      sync.Mutex
	failed  bool
	waiting net.Conn
}

func (l *shedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.failed {
		l.failed = true
		l.mu.Unlock()
		return nil, opErr(syscall.EMFILE)
	}
	if c := l.waiting; c != nil {
		l.waiting = nil
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	return l.memListener.Accept()
}

// TestShedAtFileLimit: at the descriptor limit the server accepts the
// waiting connection, closes it unanswered, logs the peer, and goes on
// serving.
func TestShedAtFileLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs records
		client, server := net.Pipe()
		peer := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001}
		l := &shedListener{memListener: newMemListener(), waiting: memConn{Conn: server, local: peer, remote: peer}}
		s := &epmd.Server{Port: 4369, Logger: slog.New(&logs)}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		got, eof := readPieces(client, time.Now())
		if len(got) != 0 || !eof {
			t.Fatalf("shed connection read %v (EOF %t), want a close", got, eof)
		}
		conn := l.dial()
		if got, eof := readPiecesAfter(conn, epmd.AppendFrame(nil, &epmd.NamesReq{})); !eof || len(got) != 1 || got[0].data != "\x00\x00\x11\x11" {
			t.Fatalf("NAMES after the shed: %v (EOF %t)", got, eof)
		}
		want := "out of file descriptors, connection closed peer=127.0.0.1:40001"
		if lines := logs.get(); !slices.Contains(lines, want) || slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "error in accept") }) {
			t.Errorf("log %q, want %q and no accept error", lines, want)
		}
		_ = s.Close()
		_ = l.Close()
		<-done
	})
}

// TestOpenConnsAndFDOfAPipe: a connection without a descriptor shows fd
// -1 in DUMP, and OpenConns counts the connections being served.
func TestOpenConnsAndFDOfAPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &epmd.Server{Port: 4369}
		l := serveInBubble(t, s)
		if n := s.OpenConns(); n != 0 {
			t.Fatalf("OpenConns = %d before any connection", n)
		}
		reg := l.dial()
		go func() {
			_, _ = reg.Write(epmd.AppendFrame(nil, &epmd.Alive2Req{PortNo: 7, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "p"}))
		}()
		reply := make([]byte, 6)
		if _, err := reg.Read(reply); err != nil {
			t.Fatal(err)
		}
		idle := l.dial()
		synctest.Wait()
		if n := s.OpenConns(); n != 2 {
			t.Errorf("OpenConns = %d with a registration and an idle connection, want 2", n)
		}
		idle.Close()
		synctest.Wait()
		if n := s.OpenConns(); n != 1 {
			t.Errorf("OpenConns = %d after the idle one closed, want 1", n)
		}
		got, _ := readPiecesAfter(l.dial(), epmd.AppendFrame(nil, &epmd.DumpReq{}))
		want := "\x00\x00\x11\x11active name     <p> at port 7, fd = -1\n\x00"
		var all string
		for _, p := range got {
			all += p.data
		}
		if all != want {
			t.Errorf("DUMP = %v, want %q", got, want)
		}
		reg.Close()
	})
}

func TestKindNames(t *testing.T) {
	tests := []struct {
		name string
		kind epmd.Kind
	}{
		{name: "kind(0)", kind: 0},
		{name: "accept", kind: epmd.KindAccept},
		{name: "alive2", kind: epmd.KindAlive2},
		{name: "port_please", kind: epmd.KindPortPlease2},
		{name: "names", kind: epmd.KindNames},
		{name: "dump", kind: epmd.KindDump},
		{name: "kill", kind: epmd.KindKill},
		{name: "stop", kind: epmd.KindStop},
		{name: "kind(8)", kind: epmd.KindStop + 1},
		{name: "kind(255)", kind: 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.name {
				t.Errorf("Kind(%d).String() = %q, want %q", tt.kind, got, tt.name)
			}
			k, ok := epmd.ParseKind(tt.name)
			if wantOK := !strings.HasPrefix(tt.name, "kind("); ok != wantOK || (ok && k != tt.kind) {
				t.Errorf("ParseKind(%q) = %d, %t; want %d, %t", tt.name, k, ok, tt.kind, wantOK)
			}
		})
	}
}

// TestChainOrder: the first middleware is the outermost; no middleware
// gives the handler itself.
func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) epmd.Middleware {
		return func(next epmd.Handler) epmd.Handler {
			return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
				order = append(order, name)
				next.ServeEPMD(ctx, w, r)
			})
		}
	}
	h := epmd.HandlerFunc(func(context.Context, epmd.ResponseWriter, *epmd.Request) { order = append(order, "handler") })
	epmd.Chain(h, mw("a"), mw("b"), mw("c")).ServeEPMD(context.Background(), nil, &epmd.Request{})
	if want := []string{"a", "b", "c", "handler"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	order = nil
	epmd.Chain(h).ServeEPMD(context.Background(), nil, &epmd.Request{})
	if want := []string{"handler"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
}

func TestRequestNodeName(t *testing.T) {
	tests := []struct {
		name   string
		msg    epmd.Message
		want   string
		wantOK bool
	}{
		{name: "alive2", msg: &epmd.Alive2Req{Name: "a"}, want: "a", wantOK: true},
		{name: "port please", msg: &epmd.PortPlease2Req{Name: "p"}, want: "p", wantOK: true},
		{name: "stop", msg: &epmd.StopReq{Name: "s"}, want: "s", wantOK: true},
		{name: "names", msg: &epmd.NamesReq{}},
		{name: "accept", msg: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &epmd.Request{Msg: tt.msg}
			if got, ok := r.NodeName(); got != tt.want || ok != tt.wantOK {
				t.Errorf("NodeName() = %q, %t; want %q, %t", got, ok, tt.want, tt.wantOK)
			}
			reg := &epmd.MemRegistry{}
			if r2 := r.WithRegistry(reg); r2 == r || r2.Registry != reg || r.Registry != nil || r2.Msg != r.Msg {
				t.Errorf("WithRegistry did not return a copy acting on the new registry")
			}
		})
	}
}

// TestResetSendsRST: a middleware's Reset ends a TCP connection with a
// reset, Close with a FIN.
func TestResetSendsRST(t *testing.T) {
	tests := []struct {
		name    string
		end     func(epmd.ResponseWriter) error
		wantRST bool
	}{
		{name: "reset", end: epmd.ResponseWriter.Reset, wantRST: true},
		{name: "close", end: epmd.ResponseWriter.Close},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end := func(next epmd.Handler) epmd.Handler {
				return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
					if r.Kind == epmd.KindNames {
						_, _ = w.Write([]byte("unsent"))
						_ = tt.end(w)
						return
					}
					next.ServeEPMD(ctx, w, r)
				})
			}
			addr := startServer(t, &epmd.Server{Middleware: []epmd.Middleware{end}})
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := conn.Write([]byte{0, 1, 'n'}); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(make([]byte, 16))
			if gotRST := errors.Is(err, syscall.ECONNRESET); n != 0 || gotRST != tt.wantRST || (!gotRST && err.Error() != "EOF") {
				t.Errorf("read %d bytes, %v; want nothing and a reset %t", n, err, tt.wantRST)
			}
		})
	}
}

// TestWriteAfterCloseFails: once a middleware closed the connection, the
// handler's writes fail with net.ErrClosed and nothing is sent.
func TestWriteAfterCloseFails(t *testing.T) {
	errs := make(chan error, 1)
	closer := func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			if r.Kind == epmd.KindNames {
				_ = w.Close()
				_, err := w.Write([]byte("late"))
				errs <- err
				return
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
	addr := startServer(t, &epmd.Server{Middleware: []epmd.Middleware{closer}})
	if got := exchange(t, addr, []byte{0, 1, 'n'}, true); len(got) != 0 {
		t.Errorf("got %q after Close", got)
	}
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want %v", err, net.ErrClosed)
	}
}
