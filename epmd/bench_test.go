package epmd_test

// Micro-benchmarks of the codec, the registry and the handler chain, and
// of a whole connection through Server.Serve on in-memory pipes. Compare
// runs with benchstat:
//
//	go test -run '^$' -bench . -benchmem -count 10 ./epmd > new.txt
//	benchstat -col /mw new.txt        # the chain's middleware cost

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// benchNodes is the registry size of the comparison.
const benchNodes = 1000

func benchAlive2(name string) *epmd.Alive2Req {
	return &epmd.Alive2Req{PortNo: 40000, NodeType: 77, HighVsn: 6, LowVsn: 6, Name: name}
}

func BenchmarkParseRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"alive2", benchAlive2("bench_node@host").Append(nil)},
		{"port_please", (&epmd.PortPlease2Req{Name: "bench_node@host"}).Append(nil)},
		{"names", (&epmd.NamesReq{}).Append(nil)},
		{"stop", (&epmd.StopReq{Name: "bench_node@host"}).Append(nil)},
	} {
		b.Run("req="+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := epmd.ParseRequest(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, bc := range []struct {
		name string
		m    epmd.Message
	}{
		{"alive2", benchAlive2("bench_node@host")},
		{"port_please", &epmd.PortPlease2Req{Name: "bench_node@host"}},
		{"port2_resp", &epmd.Port2Resp{PortNo: 40000, NodeType: 77, HighVsn: 6, LowVsn: 6, Name: "bench_node@host"}},
	} {
		b.Run("msg="+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for b.Loop() {
				buf = epmd.AppendFrame(buf[:0], bc.m)
			}
		})
	}
}

func BenchmarkAppendNamesLine(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = epmd.AppendNamesLine(buf[:0], "bench_node@host", 40000)
	}
}

// benchRegistry returns a registry holding n nodes named n0 .. n<n-1>.
func benchRegistry(b *testing.B, n int) *epmd.MemRegistry {
	b.Helper()
	r := &epmd.MemRegistry{}
	for i := range n {
		if _, err := r.Register(epmd.Node{Name: "n" + strconv.Itoa(i), PortNo: 40000, HighVsn: 6, LowVsn: 6}); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func BenchmarkRegistry(b *testing.B) {
	b.Run("op=register_unregister/nodes=1000", func(b *testing.B) {
		b.ReportAllocs()
		r := benchRegistry(b, benchNodes)
		for b.Loop() {
			n, err := r.Register(epmd.Node{Name: "churn", PortNo: 1})
			if err != nil {
				b.Fatal(err)
			}
			r.Unregister(n)
		}
	})
	b.Run("op=lookup/nodes=1000", func(b *testing.B) {
		b.ReportAllocs()
		r := benchRegistry(b, benchNodes)
		i := 0
		for b.Loop() {
			if _, ok := r.Lookup("n" + strconv.Itoa(i%benchNodes)); !ok {
				b.Fatal("lookup failed")
			}
			i++
		}
	})
	b.Run("op=lookup_parallel/nodes=1000", func(b *testing.B) {
		b.ReportAllocs()
		r := benchRegistry(b, benchNodes)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := r.Lookup("n" + strconv.Itoa(i%benchNodes)); !ok {
					b.Fatal("lookup failed")
				}
				i++
			}
		})
	})
	b.Run("op=nodes/nodes=1000", func(b *testing.B) {
		b.ReportAllocs()
		r := benchRegistry(b, benchNodes)
		dst := make([]*epmd.Node, 0, benchNodes)
		for b.Loop() {
			dst = r.Nodes(dst[:0])
		}
	})
}

// benchWriter is a ResponseWriter that counts and discards.
type benchWriter struct{ n int }

func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) Flush() error                { return nil }
func (w *benchWriter) Close() error                { return nil }
func (w *benchWriter) Reset() error                { return nil }

// benchNoop is a middleware that does nothing but call the next handler:
// the cost of a chain in which no fault is active.
func benchNoop(next epmd.Handler) epmd.Handler {
	return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
		next.ServeEPMD(ctx, w, r)
	})
}

// BenchmarkHandler runs the handler chain on decoded requests, without
// sockets, with 0, 1 and 4 no-op middlewares: benchstat -col /mw gives
// the chain's cost against the bare handler.
func BenchmarkHandler(b *testing.B) {
	for _, req := range []struct {
		name string
		msg  epmd.Message
	}{
		{"port_please", &epmd.PortPlease2Req{Name: "n500"}},
		{"port_please_unknown", &epmd.PortPlease2Req{Name: "nobody"}},
		{"names", &epmd.NamesReq{}},
	} {
		for _, mws := range []int{0, 1, 4} {
			b.Run("req="+req.name+"/mw="+strconv.Itoa(mws), func(b *testing.B) {
				b.ReportAllocs()
				reg := benchRegistry(b, benchNodes)
				chain := make([]epmd.Middleware, mws)
				for i := range chain {
					chain[i] = benchNoop
				}
				s := &epmd.Server{Port: 4369, Registry: reg, Middleware: chain}
				body := req.msg.Append(nil)
				kind := map[byte]epmd.Kind{'z': epmd.KindPortPlease2, 'n': epmd.KindNames}[body[0]]
				r := &epmd.Request{Kind: kind, Msg: req.msg, Body: body, Conn: &epmd.Conn{ID: 1, IsLocal: true}, Registry: reg}
				w := &benchWriter{}
				ctx := context.Background()
				for b.Loop() {
					s.ServeRequest(ctx, w, r)
				}
				if w.n == 0 {
					b.Fatal("no reply")
				}
			})
		}
	}
}

// benchPipeListener is a net.Listener of in-memory connections: a whole
// connection's cost in the server (goroutine, buffers, decode, reply,
// close) without the kernel's.
type benchPipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newBenchPipeListener() *benchPipeListener {
	return &benchPipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *benchPipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *benchPipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *benchPipeListener) Addr() net.Addr { return benchPipeAddr{} }

func (l *benchPipeListener) dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type benchPipeAddr struct{}

func (benchPipeAddr) Network() string { return "pipe" }
func (benchPipeAddr) String() string  { return "pipe" }

// serveBenchReqs are the requests of the whole-connection benchmarks.
var serveBenchReqs = []struct {
	name string
	msg  epmd.Message
}{
	{"port_please", &epmd.PortPlease2Req{Name: "n500"}},
	{"names", &epmd.NamesReq{}},
}

// BenchmarkServePipe is one whole request per connection through
// Server.Serve, over in-memory pipes, with 1000 nodes registered.
func BenchmarkServePipe(b *testing.B) {
	for _, req := range serveBenchReqs {
		b.Run("req="+req.name, func(b *testing.B) {
			b.ReportAllocs()
			l := newBenchPipeListener()
			s := &epmd.Server{Port: 4369, Registry: benchRegistry(b, benchNodes)}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			defer func() {
				_ = s.Shutdown(context.Background())
				if err := <-served; !errors.Is(err, epmd.ErrServerClosed) {
					b.Errorf("Serve: %v", err)
				}
			}()
			frame := epmd.AppendFrame(nil, req.msg)
			buf := make([]byte, 64<<10)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, len(buf))
				for pb.Next() {
					c, err := l.dial()
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := c.Write(frame); err != nil {
						b.Error(err)
						return
					}
					n := 0
					for {
						m, err := c.Read(buf[n:])
						n += m
						if err != nil {
							if !errors.Is(err, io.EOF) {
								b.Error(err)
							}
							break
						}
					}
					c.Close()
					if n < 2 {
						b.Errorf("reply of %d bytes", n)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHandlerChainCost measures the bare handler and the same handler
// under 1 and 4 no-op middlewares alternately, in blocks of 1000 requests
// within one run, so that a noisy machine affects both alike; it reports
// the chain's overhead in percent of the bare handler (the target
// is at most 3) next to the two per-request times.
func BenchmarkHandlerChainCost(b *testing.B) {
	for _, mws := range []int{1, 4} {
		for _, req := range []struct {
			name string
			msg  epmd.Message
			kind epmd.Kind
		}{
			{"port_please", &epmd.PortPlease2Req{Name: "n500"}, epmd.KindPortPlease2},
			{"names", &epmd.NamesReq{}, epmd.KindNames},
		} {
			b.Run("req="+req.name+"/mw="+strconv.Itoa(mws), func(b *testing.B) {
				reg := benchRegistry(b, benchNodes)
				chain := make([]epmd.Middleware, mws)
				for i := range chain {
					chain[i] = benchNoop
				}
				bare := &epmd.Server{Port: 4369, Registry: reg}
				wrapped := &epmd.Server{Port: 4369, Registry: reg, Middleware: chain}
				r := &epmd.Request{Kind: req.kind, Msg: req.msg, Body: req.msg.Append(nil),
					Conn: &epmd.Conn{ID: 1, IsLocal: true}, Registry: reg}
				w := &benchWriter{}
				ctx := context.Background()
				block := 1000
				if req.kind == epmd.KindNames {
					block = 10
				}
				var tBare, tChain time.Duration
				n := 0
				for b.Loop() {
					t0 := time.Now()
					for range block {
						bare.ServeRequest(ctx, w, r)
					}
					t1 := time.Now()
					for range block {
						wrapped.ServeRequest(ctx, w, r)
					}
					tChain += time.Since(t1)
					tBare += t1.Sub(t0)
					n += block
				}
				b.ReportMetric(float64(tBare.Nanoseconds())/float64(n), "bare-ns/req")
				b.ReportMetric(float64(tChain.Nanoseconds())/float64(n), "chain-ns/req")
				b.ReportMetric(100*(float64(tChain)/float64(tBare)-1), "overhead-%")
			})
		}
	}
}

// BenchmarkServeLoopback is one whole request per connection through
// Server.Serve over loopback TCP, the accept loop's own path (accept4,
// read, write, close), with 1000 nodes registered. The client makes raw
// system calls, so allocs/op are the server's. Whether a request has
// arrived when its connection is accepted, or waits in the server's epoll
// instance, is a race: the figure is the mix of the two.
func BenchmarkServeLoopback(b *testing.B) {
	for _, req := range serveBenchReqs {
		b.Run("req="+req.name, func(b *testing.B) {
			s := &epmd.Server{Port: 4369, Registry: benchRegistry(b, benchNodes)}
			ap := netip.MustParseAddrPort(startServer(b, s))
			sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
			frame := epmd.AppendFrame(nil, req.msg)
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			for b.Loop() {
				n, err := rawExchange(sa, frame, buf)
				if err != nil || n < 2 {
					b.Fatalf("reply of %d bytes: %v", n, err)
				}
			}
		})
	}
}

// rawExchange sends frame on a new connection to sa and reads the reply
// into buf until the server closes the connection.
func rawExchange(sa *syscall.SockaddrInet4, frame, buf []byte) (int, error) {
	fd, err := rawSend(sa, frame)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return rawReadReply(fd, buf, false)
}

// rawReadReply reads into buf until the peer closes the connection, or,
// with full, until buf is full (a close before is io.ErrUnexpectedEOF).
func rawReadReply(fd int, buf []byte, full bool) (int, error) {
	n := 0
	for !full || n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return n, err
		case m == 0 && full:
			return n, io.ErrUnexpectedEOF
		case m == 0:
			return n, nil
		}
		n += m
	}
	return n, nil
}

// rawSend sends frame on a new connection to sa, and returns its socket.
func rawSend(sa *syscall.SockaddrInet4, frame []byte) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if _, err := syscall.Write(fd, frame); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// BenchmarkChurnLoopback is epmd-bench's churn cycle over loopback: a new
// connection registers a node, reads the reply and closes, which
// unregisters it; 1000 other nodes are registered throughout.
func BenchmarkChurnLoopback(b *testing.B) {
	s := &epmd.Server{Port: 4369, Registry: benchRegistry(b, benchNodes)}
	ap := netip.MustParseAddrPort(startServer(b, s))
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	// Names come round again only long after their node is gone.
	frames := make([][]byte, 1<<14)
	for i := range frames {
		frames[i] = epmd.AppendFrame(nil, benchAlive2("churn"+strconv.Itoa(i)))
	}
	buf := make([]byte, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n, err := rawRegister(sa, frames[i%len(frames)], buf)
		if err != nil || n != 6 || buf[0] != 'v' || buf[1] != 0 {
			b.Fatalf("reply % x: %v", buf[:n], err)
		}
		i++
	}
}

// rawRegister sends an ALIVE2 frame on a new connection to sa, reads the
// 6-byte reply into buf and closes the connection.
func rawRegister(sa *syscall.SockaddrInet4, frame, buf []byte) (int, error) {
	fd, err := rawSend(sa, frame)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return rawReadReply(fd, buf[:6], true)
}
