package faults_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// The tests run the real epmd.Server with an Injector inside a synctest
// bubble, over in-memory connections (net.Pipe): time is virtual, so
// delays are asserted exactly.

// epmdPort is the port the bubble's server reports.
const epmdPort = 4369

// horizon is how long (virtual) a test waits before it calls a connection
// hung or kept.
const horizon = time.Hour

// pipeListener is a net.Listener of in-memory connections.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
	next  int
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: epmdPort}
}

// addrConn gives a pipe end TCP addresses, so the server sees a peer.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// dial connects a client with address peer (e.g. "127.0.0.1").
func (l *pipeListener) dial(peer string) net.Conn {
	l.next++
	ip := netip.MustParseAddr(peer)
	client := &net.TCPAddr{IP: ip.AsSlice(), Port: 40000 + l.next}
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: epmdPort}
	if ip.Is6() {
		server = &net.TCPAddr{IP: net.IPv6loopback, Port: epmdPort}
	}
	c, s := net.Pipe()
	l.conns <- addrConn{Conn: s, local: server, remote: client}
	return addrConn{Conn: c, local: client, remote: server}
}

// recorder is a middleware outside the injector noting how faults end
// connections (net.Pipe cannot tell a reset from a close).
type recorder struct {
	mu  sync.Mutex
	end map[uint64]string // conn ID: "close" or "reset"
}

func (rec *recorder) middleware(next epmd.Handler) epmd.Handler {
	return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
		next.ServeEPMD(ctx, &recWriter{ResponseWriter: w, rec: rec, id: r.Conn.ID}, r)
	})
}

func (rec *recorder) note(id uint64, how string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.end[id] == "" {
		rec.end[id] = how
	}
}

// ends returns how the faults ended connections, in connection order.
func (rec *recorder) ends() map[uint64]string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make(map[uint64]string, len(rec.end))
	for k, v := range rec.end {
		out[k] = v
	}
	return out
}

type recWriter struct {
	epmd.ResponseWriter
	rec *recorder
	id  uint64
}

func (w *recWriter) Close() error { w.rec.note(w.id, "close"); return w.ResponseWriter.Close() }
func (w *recWriter) Reset() error { w.rec.note(w.id, "reset"); return w.ResponseWriter.Reset() }

// bubble is a server with an injector, inside a synctest bubble.
type bubble struct {
	t   *testing.T
	srv *epmd.Server
	inj *faults.Injector
	l   *pipeListener
	rec *recorder
	reg *epmd.MemRegistry
}

// creation is what the bubble's registry gives a new name: its clock is
// fixed at Unix time creationBase.
const creationBase = 1000

// newBubble starts a server with the faults of specs (seed 1). Call it
// inside synctest.Test and defer close.
func newBubble(t *testing.T, specs ...string) *bubble {
	t.Helper()
	return newSeededBubble(t, 1, specs...)
}

func newSeededBubble(t *testing.T, seed int64, specs ...string) *bubble {
	t.Helper()
	return startBubble(t, seed, nil, specs...)
}

// newLoggedBubble is newBubble with the server's and the injector's log
// kept in logs, every level.
func newLoggedBubble(t *testing.T, logs *logRecorder, specs ...string) *bubble {
	t.Helper()
	return startBubble(t, 1, logs, specs...)
}

func startBubble(t *testing.T, seed int64, logs *logRecorder, specs ...string) *bubble {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(logs)
	}
	b := &bubble{t: t, l: newPipeListener(), rec: &recorder{end: map[uint64]string{}},
		inj: faults.NewInjector(seed, log),
		reg: &epmd.MemRegistry{Now: func() time.Time { return time.Unix(creationBase, 0) }}}
	for _, s := range specs {
		if _, err := b.inj.AddSpec(s); err != nil {
			t.Fatal(err)
		}
	}
	b.srv = &epmd.Server{Port: epmdPort, Registry: b.reg, RelaxedCommandCheck: true, Logger: log,
		Middleware: []epmd.Middleware{b.rec.middleware, b.inj.Middleware}}
	go func() { _ = b.srv.Serve(b.l) }()
	synctest.Wait()
	return b
}

func (b *bubble) close() {
	_ = b.inj.Close()
	_ = b.srv.Close()
	_ = b.l.Close()
	synctest.Wait()
}

// logRecorder is a slog.Handler that keeps every record as its message
// followed by its attributes in order, " key=value" each.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
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

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// matching returns the kept lines that start with prefix.
func (h *logRecorder) matching(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// chunk is one read of the client: when (since the request was sent) and
// what.
type chunk struct {
	At   time.Duration
	Data string
}

// exchange is a request in flight: the reads so far and whether the server
// closed the connection.
type exchange struct {
	conn  net.Conn
	mu    sync.Mutex
	got   []chunk
	eof   bool
	start time.Time
}

// send dials from peer, sends m and reads the reply in the background.
func (b *bubble) send(peer string, m epmd.Message) *exchange {
	conn := b.l.dial(peer)
	x := &exchange{conn: conn, start: time.Now()}
	go func() {
		if m != nil {
			_, _ = conn.Write(epmd.AppendFrame(nil, m))
		}
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			x.mu.Lock()
			if n > 0 {
				x.got = append(x.got, chunk{time.Since(x.start), string(buf[:n])})
			}
			if err != nil {
				x.eof = errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe)
				x.mu.Unlock()
				return
			}
			x.mu.Unlock()
		}
	}()
	return x
}

// result waits until every goroutine of the bubble is blocked and returns
// the reads so far and whether the connection was closed.
func (x *exchange) result() ([]chunk, bool) {
	synctest.Wait()
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]chunk(nil), x.got...), x.eof
}

// bytes returns everything read so far.
func (x *exchange) bytes() string {
	got, _ := x.result()
	s := ""
	for _, c := range got {
		s += c.Data
	}
	return s
}

// register registers name with port (HighVsn 6) from a local peer and
// returns the kept connection.
func (b *bubble) register(name string, port uint16) *exchange {
	b.t.Helper()
	x := b.send("127.0.0.1", alive2(name, port, 6))
	if got := x.bytes(); len(got) != 6 || got[1] != 0 {
		b.t.Fatalf("register %s: reply %q", name, got)
	}
	return x
}

func alive2(name string, port, vsn uint16) *epmd.Alive2Req {
	return &epmd.Alive2Req{Name: name, PortNo: port, NodeType: 77, Protocol: 0, HighVsn: vsn, LowVsn: 5}
}

// port2 is the PORT2_RESP for a node registered with alive2(name, port, 6).
func port2(name string, port uint16) string {
	return string((&epmd.Port2Resp{PortNo: port, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: name}).Append(nil))
}

// names returns the registered names, newest first.
func (b *bubble) names() []string {
	synctest.Wait()
	var out []string
	for _, n := range b.reg.Nodes(nil) {
		out = append(out, n.Name)
	}
	return out
}

func newInjector() *faults.Injector { return faults.NewInjector(1, nil) }

// adminServer is an Admin serving on a loopback port.
type adminServer struct {
	// URL is the API's base URL.
	URL string
	a   *faults.Admin
}

// newAdminServer serves a on a loopback port until Close or the end of
// the test.
func newAdminServer(t testing.TB, a *faults.Admin) *adminServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Serve(l) }()
	t.Cleanup(func() { _ = a.Close() })
	return &adminServer{URL: "http://" + l.Addr().String(), a: a}
}

// Close stops the server and ends its connections.
func (s *adminServer) Close() { _ = s.a.Close() }
