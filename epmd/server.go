package epmd

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultPacketTimeout is how long a connection that is not a registration
// may stay idle before the server closes it (CLOSE_TIMEOUT in the C epmd).
const DefaultPacketTimeout = 60 * time.Second

// inbufSize is the C epmd's input buffer (INBUF_SIZE); a first read asks
// for at most inbufSize-1 bytes.
const inbufSize = 3 * MaxNameBytes

// framePool holds the buffers requests are read into.
var framePool = sync.Pool{New: func() any { return new([inbufSize]byte) }}

// closeAfter is how long after its last data an idle connection is closed
// for a packet timeout of d. A whole number of seconds N is timed as the C
// epmd times it: it closes when mod_time + N < now in whole seconds,
// checked on select() wake-ups every second (N < 5) or every 5 s, which on
// an idle server is N+1 s, or N+1 rounded up to a multiple of 5 s (65 s for
// the default 60). OTP's epmd_SUITE relies on that slack: it trickles a
// request byte by byte, a second apart, under -packet_timeout 1. Other
// durations (faults' packet_timeout=200ms) are exact.
func closeAfter(d time.Duration) time.Duration {
	switch {
	case d%time.Second != 0:
		return d
	case d < 5*time.Second:
		return d + time.Second
	default:
		const wake = 5 * time.Second
		return (d + time.Second + wake - 1) / wake * wake
	}
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown
// or Close.
var ErrServerClosed = errors.New("epmd: server closed")

// Server is an epmd. Its zero value serves the protocol with an in-memory
// registry and the C epmd's defaults.
type Server struct {
	// Port is the port reported in NAMES and DUMP replies and the port
	// ListenAndServe binds (its low 16 bits; replies carry the whole
	// value, as the C epmd's do for -port 70000). 0 means 4369 for
	// ListenAndServe and, in replies, the local port of the connection.
	Port int
	// Address is the -address list for ListenAndServe (see Listen); empty
	// means all IPv4 and IPv6 addresses.
	Address string
	// Registry is the node table; nil means a new MemRegistry.
	Registry Registry
	// Middleware wraps the protocol handler, the first outermost.
	Middleware []Middleware
	// PacketTimeout closes connections that are not registrations after
	// that long without data; 0 means DefaultPacketTimeout. Whole seconds
	// are timed as the C epmd times them (see closeAfter): N+1 s for N < 5.
	PacketTimeout time.Duration
	// RelaxedCommandCheck allows KILL while nodes are registered, and STOP.
	RelaxedCommandCheck bool
	// Logger receives the server's log, at the levels LevelAlways,
	// LevelDebug1, LevelDebug2 and LevelDebug3; nil discards it.
	Logger *slog.Logger
	// FileTable is how many descriptors the process's descriptor table
	// is grown to hold when the server starts serving (at most the soft
	// limit on open files), so that accept never waits for the table to
	// grow; 0 means DefaultFileTable, negative means no growth. Once half
	// of the table is in use, the server doubles it in the background.
	FileTable int
	// HeapReserve is how many bytes of heap the process makes resident
	// when its first server starts serving, so that the first connections'
	// objects take pages without a page fault each; 0 means
	// DefaultHeapReserve, negative means none.
	HeapReserve int

	initOnce  sync.Once
	handler   Handler
	bare      bool // no middleware: handler is the protocol itself
	reg       Registry
	log       *slog.Logger
	logLevels [4]bool // enabled: always, -d, -d -d, -d -d -d

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[uint64]*Conn
	done      chan struct{}
	killed    atomic.Bool
	closing   atomic.Bool
	spareMu   sync.Mutex
	spare     *os.File // a descriptor held back for shedding at the fd limit
	wg        sync.WaitGroup
	nextID    atomic.Uint64
	tableOnce sync.Once
	keptConns keptConns
	growAt    atomic.Int64 // descriptor number that triggers growAhead
	growing   atomic.Bool
	ctx       context.Context
	cancel    context.CancelFunc
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.reg = s.Registry
		if s.reg == nil {
			s.reg = &MemRegistry{}
		}
		s.handler = Chain(core{s}, s.Middleware...)
		s.bare = len(s.Middleware) == 0
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		for i, l := range []slog.Level{LevelAlways, LevelDebug1, LevelDebug2, LevelDebug3} {
			s.logLevels[i] = s.log.Enabled(context.Background(), l)
		}
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[uint64]*Conn)
		s.done = make(chan struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.spare, _ = os.Open(os.DevNull)
	})
}

// NodeTable returns the server's node table, for inspection.
func (s *Server) NodeTable() Registry {
	s.init()
	return s.reg
}

// Conn is a client connection, as seen by the handler chain.
type Conn struct {
	// ID identifies the connection within its server, from 1.
	ID uint64
	// FD is the socket's file descriptor (shown by DUMP).
	FD int
	// RemoteAddr and LocalAddr are the peer's and the socket's addresses.
	RemoteAddr, LocalAddr netip.AddrPort
	// IsLocal reports whether the peer counts as local: 127/8, ::1, or
	// the socket's own address. Only local peers may register, dump,
	// kill or stop.
	IsLocal bool

	s             *Server
	nc            net.Conn
	packetTimeout atomic.Int64 // time.Duration
	regNode       *Node        // the registration a kept connection made, if any
	regTable      Registry     // where it made it
	kept          bool
	closed        atomic.Bool
	watched       atomic.Bool     // in keptConns.conns: closing it must take it out
	inEpoll       bool            // in keptConns' epoll instance (keptConns.mu)
	raw           syscall.RawConn // nil when nc has no descriptor
	inl           *fdConns        // what it came in, when the server accepted it itself
	st            *inlineState    // while the inline path serves it
	pins          atomic.Int32    // closeConn calls that hold it (see serveInline)
}

// SetPacketTimeout sets how long the connection may stay idle while its
// request is read, instead of the server's PacketTimeout.
func (c *Conn) SetPacketTimeout(d time.Duration) { c.packetTimeout.Store(int64(d)) }

// keep makes the connection a registration connection: it stays open
// after the handler returns, without timeout, until anything happens on
// it; then release ends node's registration in reg, when node is not nil
// (a registration that failed keeps its connection too).
func (c *Conn) keep(node *Node, reg Registry) {
	c.kept = true
	c.regNode, c.regTable = node, reg
}

// release ends the registration the connection made, if it is still the
// one its name has. The node is gone already when a STOP took it and
// closed the connection: as the C epmd, which unregisters the node before
// it closes the connection and so never looks the descriptor up, it says
// nothing then.
func (c *Conn) release() {
	if c.regNode != nil && c.regTable.Unregister(c.regNode) {
		c.s.logUnregistered(c.regNode, c.regTable)
	}
}

// AwaitClose reads and discards what the peer sends until it closes the
// connection, the connection is closed, or ctx is done. Middleware that
// holds a connection open (hang) uses it to notice the client giving up.
func (c *Conn) AwaitClose(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = c.nc.SetReadDeadline(time.Time{})
	var buf [256]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
	}
}

// close closes the connection once, logging it as the C epmd does unless
// the whole server is going down other than by a KILL_REQ (the C epmd dies
// of a signal without a line, and logs every close on its way out of a KILL).
func (c *Conn) close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if c.s != nil && c.s.logLevels[2] && (!c.s.isClosing() || c.s.killed.Load()) {
		c.s.log.LogAttrs(context.Background(), LevelDebug2, msgConnClose, slog.Int("fd", c.FD))
	}
	err := c.nc.Close()
	if c.watched.Load() {
		c.s.unwatchKept(c) // closed from outside: end its registration
	}
	return err
}

// IsLocalPeer applies the C epmd's locality rule to a connection's
// addresses: the peer is ::1, in 127.0.0.0/8, or the socket's own address
// (same family).
func IsLocalPeer(remote, local netip.Addr) bool {
	if remote.Is4() && remote.As4()[0] == 127 {
		return true
	}
	if remote == netip.IPv6Loopback() {
		return true
	}
	return remote.IsValid() && remote == local
}

// connWriter is the bare ResponseWriter: it queues writes and sends them
// in one system call on Flush.
type connWriter struct {
	s   *Server
	c   *Conn
	buf []byte
	err error
	// now is set while the accept loop serves the connection itself
	// (serveInline): a write must not wait then, and what the socket does
	// not take at once waits in pending for a goroutine to send.
	now     bool
	pending []byte
}

// refused is why nothing more can be queued: an earlier error, or the
// connection closed.
func (w *connWriter) refused() error {
	if w.err != nil {
		return w.err
	}
	if w.c.closed.Load() {
		return net.ErrClosed
	}
	return nil
}

func (w *connWriter) Write(p []byte) (int, error) {
	if err := w.refused(); err != nil {
		return 0, err
	}
	if w.s.logLevels[2] {
		w.s.logBytes(w.c, p)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// writeAppended queues what appendTo appends, as Write would queue it.
func (w *connWriter) writeAppended(appendTo func([]byte) []byte) error {
	if err := w.refused(); err != nil {
		return err
	}
	n := len(w.buf)
	w.buf = appendTo(w.buf)
	if w.s.logLevels[2] {
		w.s.logBytes(w.c, w.buf[n:])
	}
	return nil
}

func (w *connWriter) Flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}

// send writes p, which it does not keep, after whatever is pending.
func (w *connWriter) send(p []byte) error {
	var err error
	switch {
	case len(w.pending) > 0:
		w.pending = append(w.pending, p...)
	case w.now:
		var n int
		n, err = w.c.nc.(*fdConn).writeNow(p)
		if err == errWouldBlock {
			w.pending = append([]byte(nil), p[n:]...)
			err = nil
		}
	default:
		_, err = w.c.nc.Write(p)
	}
	if err != nil {
		w.err = err
		w.s.logWriteError(w.c, err)
	}
	return err
}

func (w *connWriter) Close() error {
	w.buf = w.buf[:0]
	return w.c.close()
}

func (w *connWriter) Reset() error {
	w.buf = w.buf[:0]
	switch nc := w.c.nc.(type) {
	case *net.TCPConn:
		_ = nc.SetLinger(0)
	case *fdConn:
		nc.setLinger0()
	}
	return w.c.close()
}

// Serve accepts connections on l and serves them until Shutdown, Close or
// a KILL_REQ. It returns ErrServerClosed or ErrServerKilled then, or the
// accept error that stopped it. Serve may be called for several listeners
// at once. As net/http's Serve, it always closes l before it returns, also
// when the server was closed before Serve was called. Serve owns l: on a
// *net.TCPListener without middleware it waits on a duplicate of l's
// socket, so closing l other than through Close or Shutdown does not stop
// it.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	ol := &onceCloseListener{Listener: l}
	raw := s.inlineListener(l, ol)
	l = ol
	defer l.Close()
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return s.closedErr()
	default:
	}
	s.listeners[&l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.mu.Unlock()
		s.wg.Done()
	}()
	s.tableOnce.Do(s.prepare)
	accept := func() (*Conn, error) {
		nc, err := l.Accept()
		if err != nil {
			return nil, err
		}
		return s.newConn(nc), nil
	}
	serve := func(c *Conn) { go s.serveConn(c) }
	if raw != nil {
		a := newRawAcceptor(raw)
		accept = func() (*Conn, error) { return s.acceptRaw(a) }
		serve = s.serveInline
	}
	var backoff time.Duration
	for {
		c, err := accept()
		if err != nil {
			select {
			case <-s.done:
				return s.closedErr()
			default:
			}
			if s.shedAtLimit(l, err) {
				continue
			}
			if isTemporaryAccept(err) {
				// Out of memory or similar: wait and retry, as
				// net/http does, rather than stop serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logAcceptError(err)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.done:
					t.Stop()
					return s.closedErr()
				}
				continue
			}
			return err
		}
		backoff = 0
		if int64(c.FD) >= s.growAt.Load() {
			s.growAhead()
		}
		if !s.track(c) {
			_ = c.nc.Close()
			return s.closedErr()
		}
		serve(c)
	}
}

// inlineListener returns a raw listening socket for l when the server can
// serve its connections in the accept loop (serveInline): the handler is
// the bare protocol, which never waits, over the in-memory node table.
// Middleware may wait (delay_accept, hang) and another table may be slow;
// their connections are each served by a goroutine of its own, as are
// those of listeners other than TCP ones.
//
// The socket is a duplicate of l's, in Go's poller as an *os.File (a
// net.Listener's own RawConn cannot wait): ol closes it with l. Closing l
// itself, not through Serve's Close, Shutdown or return, then leaves the
// socket open and Serve accepting.
func (s *Server) inlineListener(l net.Listener, ol *onceCloseListener) syscall.RawConn {
	if !s.bare {
		return nil
	}
	if _, ok := s.reg.(*MemRegistry); !ok {
		return nil
	}
	var tl *net.TCPListener
	switch v := l.(type) {
	case *net.TCPListener:
		tl = v
	case noKeepAliveListener: // accept4 turns nothing on
		tl = v.TCPListener
	default:
		return nil
	}
	lrc, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	dup := -1
	var derr error
	if err := lrc.Control(func(fd uintptr) {
		var r uintptr
		var e syscall.Errno
		r, _, e = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		dup = int(r)
	}); err != nil || derr != nil {
		return nil
	}
	// The listening socket is non-blocking (shared by the duplicate):
	// os.NewFile puts it in the poller.
	f := os.NewFile(uintptr(dup), "epmd listener")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil
	}
	ol.dup = f
	return rc
}

// rawAcceptor accepts connections with accept4 on a listening socket,
// waiting for one in Go's poller. It is made once per accept loop: what
// one call to accept returns lives in it, not in a closure of each call.
type rawAcceptor struct {
	rc     syscall.RawConn
	try    func(fd uintptr) bool // accept4 until it takes one or must wait
	nfd    int
	remote netip.AddrPort
	err    error
}

func newRawAcceptor(rc syscall.RawConn) *rawAcceptor {
	a := &rawAcceptor{rc: rc}
	a.try = func(fd uintptr) bool {
		for {
			a.nfd, a.remote, a.err = rawAccept4(int(fd))
			if a.err != syscall.EINTR && a.err != syscall.ECONNABORTED {
				return a.err != syscall.EAGAIN
			}
		}
	}
	return a
}

// fdConns is a Conn and its fdConn in one allocation. A connection
// closed wholly on the inline path, or a registration the watcher ended,
// gives it back to connPool (recycle), so that neither allocates it.
type fdConns struct {
	c  Conn
	fc fdConn
}

// inlineState is what the inline path serves a connection with: its
// writer, its request and room for a short reply. It goes back to
// statePool when the request is served, a registration's too: a held
// registration keeps only its fdConns.
type inlineState struct {
	w    connWriter
	req  Request
	room msgRoom  // what req.Msg points to, for ALIVE2 and PORT_PLEASE2
	out  [64]byte // the writer's buffer, until a reply outgrows it
}

// connPool and statePool hold what inline connections were served with;
// what they give is cleared when taken, not when put back.
var (
	connPool  = sync.Pool{New: func() any { return new(fdConns) }}
	statePool = sync.Pool{New: func() any { return new(inlineState) }}
)

// acceptRaw accepts a connection through a. The peer's address comes with
// it; the socket's own is asked for (getsockname) only when the locality
// rule or the reported port needs it.
func (s *Server) acceptRaw(a *rawAcceptor) (*Conn, error) {
	err := a.rc.Read(a.try)
	if err == nil && a.err != nil {
		err = os.NewSyscallError("accept4", a.err)
	}
	if err != nil {
		return nil, err
	}
	nfd, remote := a.nfd, a.remote
	both := connPool.Get().(*fdConns)
	*both = fdConns{fc: fdConn{fd: nfd, raddr: remote}}
	fc, c := &both.fc, &both.c
	c.ID, c.s, c.nc, c.FD, c.RemoteAddr, c.raw = s.nextID.Add(1), s, fc, nfd, remote, fdRaw{fc}
	c.inl = both
	if ra := remote.Addr(); s.Port == 0 || !IsLocalPeer(ra, netip.Addr{}) {
		c.LocalAddr = fc.LocalAddr().(*net.TCPAddr).AddrPort()
	}
	c.IsLocal = IsLocalPeer(remote.Addr(), c.LocalAddr.Addr())
	return c, nil
}

// onceCloseListener closes its listener once, for whichever of Serve's
// return and Close comes first; and with it the duplicate of its socket
// that the accept loop waits on (inlineListener).
type onceCloseListener struct {
	net.Listener
	dup  *os.File
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() {
		if l.dup != nil {
			_ = l.dup.Close()
		}
		l.err = l.Listener.Close()
	})
	return l.err
}

// shedAtLimit handles an accept that failed for want of a file descriptor
// the way the C epmd treats connections beyond its table: it frees the
// reserved descriptor, accepts the waiting connection, closes it at once and
// takes the reserve back. It reports whether it did.
func (s *Server) shedAtLimit(l net.Listener, err error) bool {
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return false
	}
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	if s.spare == nil {
		return false
	}
	_ = s.spare.Close()
	s.spare = nil
	nc, aerr := l.Accept()
	if aerr == nil {
		s.log0(msgAtLimit, slog.String("peer", nc.RemoteAddr().String()))
		_ = nc.Close()
	}
	s.spare, _ = os.Open(os.DevNull)
	return aerr == nil
}

func isTemporaryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EAGAIN)
}

func (s *Server) closedErr() error {
	if s.killed.Load() {
		return ErrServerKilled
	}
	return ErrServerClosed
}

func (s *Server) newConn(nc net.Conn) *Conn {
	c := &Conn{ID: s.nextID.Add(1), s: s, nc: nc, FD: -1,
		RemoteAddr: addrPortOf(nc.RemoteAddr()), LocalAddr: addrPortOf(nc.LocalAddr())}
	c.IsLocal = IsLocalPeer(c.RemoteAddr.Addr(), c.LocalAddr.Addr())
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			_ = raw.Control(func(fd uintptr) { c.FD = int(fd) })
		}
	}
	return c
}

func (s *Server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[c.ID] = c
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c.ID)
	s.mu.Unlock()
	s.wg.Done()
}

// closeConn closes the connection with that ID, if open (STOP closes the
// stopped node's registration connection).
func (s *Server) closeConn(id uint64) {
	if c := s.pinConn(id); c != nil {
		_ = c.close()
		c.pins.Add(-1)
	}
}

// pinConn returns the open connection with that ID, or nil, pinned: the
// inline path does not reuse its objects until the caller unpins it
// (serveInline).
func (s *Server) pinConn(id uint64) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c != nil {
		c.pins.Add(1)
	}
	return c
}

// OpenConns returns the number of open client connections.
func (s *Server) OpenConns() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) serveConn(c *Conn) {
	s.logConnOpen(c)
	w := &connWriter{s: s, c: c}
	if !s.bare { // the bare protocol handler does nothing at accept
		s.handler.ServeEPMD(s.ctx, w, &Request{Kind: KindAccept, Conn: c, Registry: s.reg})
		if c.closed.Load() {
			s.endConn(c)
			return
		}
		_ = w.Flush()
	}
	s.serveFrame(c, w, framePool.Get().(*[inbufSize]byte), 0)
}

// serveInline serves a connection in the accept loop, as the C epmd's one
// thread does, when its request has arrived with it: accept4, read, write,
// close. When it has not, or not whole, the server's epoll watcher waits
// for the rest and serves it (awaitRequest); when the socket does not take
// the whole reply at once, a goroutine sends what is left. Nothing here
// waits.
func (s *Server) serveInline(c *Conn) {
	s.logConnOpen(c)
	st := statePool.Get().(*inlineState) // its request is set by decode
	w := &st.w
	*w = connWriter{s: s, c: c, now: true, buf: st.out[:0]}
	c.st = st
	buf := framePool.Get().(*[inbufSize]byte)
	got := 0
	body, res := s.readFrame(c, buf[:], &got, true)
	if res == frameLater {
		// The state goes with the request (no pool then).
		s.awaitRequest(&pendingReq{c: c, w: w, buf: buf, got: got})
		return
	}
	end := s.serveBody(c, w, buf, body, res)
	if end == servedElsewhere {
		return
	}
	// Nothing refers to the state now (serveBody let go of it in c): the
	// bare protocol keeps no request or writer, a registration neither.
	statePool.Put(st)
	if end == servedClosed {
		s.recycle(c)
	}
}

// recycle gives the object of a connection the server accepted itself
// back to connPool once the connection is closed and untracked: nothing
// refers to it then (the node table, timers and the watcher know it by
// its ID), unless a STOP looked it up before (closeConn: the
// registration's ID was in the node table from Register on) and is still
// closing it, or the server closes: Close may hold it in its list of
// those to close. Both found it under s.mu, before untrack.
func (s *Server) recycle(c *Conn) {
	if c.inl != nil && c.pins.Load() == 0 && !s.isClosing() {
		c.regNode, c.regTable = nil, nil // nor hold a node while pooled
		connPool.Put(c.inl)
	}
}

// serveFrame reads the rest of a request, of which buf holds got bytes
// already, and serves it.
func (s *Server) serveFrame(c *Conn, w *connWriter, buf *[inbufSize]byte, got int) {
	body, res := s.readFrame(c, buf[:], &got, false)
	s.serveBody(c, w, buf, body, res)
}

// served is how serveBody left a connection.
type served int

const (
	servedClosed    served = iota // closed and untracked: nothing holds it
	servedKept                    // a registration: its writer and request are free
	servedElsewhere               // a goroutine sends the rest of the reply
)

// serveBody serves the request readFrame read into buf (when res is
// frameDone), then closes the connection or keeps it (a registration).
func (s *Server) serveBody(c *Conn, w *connWriter, buf *[inbufSize]byte, body []byte, res frameResult) served {
	var req *Request
	ok := res == frameDone
	if ok {
		req, ok = s.decode(c, body)
	}
	c.st = nil // decode was the inline state's last use through c
	if !ok {
		framePool.Put(buf)
		s.endConn(c)
		return servedClosed
	}
	s.handler.ServeEPMD(s.ctx, w, req)
	framePool.Put(buf)
	if c.closed.Load() {
		c.release()
		s.endConn(c)
		return keptOrClosed(c)
	}
	_ = w.Flush()
	if len(w.pending) > 0 {
		go s.finishWrite(c, w)
		return servedElsewhere
	}
	// Read before: a registration handed to the watcher may end at once,
	// and its object go to another accept loop's connection (recycle).
	end := keptOrClosed(c)
	s.endOrKeep(c, w.now)
	return end
}

func keptOrClosed(c *Conn) served {
	if c.kept {
		return servedKept
	}
	return servedClosed
}

// finishWrite sends the rest of a reply the socket did not take at once
// (an inline connection's), then ends or keeps the connection.
func (s *Server) finishWrite(c *Conn, w *connWriter) {
	w.now = false
	p := w.pending
	w.pending = nil
	_ = w.send(p)
	s.endOrKeep(c, false)
}

// endOrKeep closes a served connection, or, for a registration, hands it
// to the server's epoll watcher, or waits on it itself: in a goroutine of
// its own when called from the accept loop (inline).
func (s *Server) endOrKeep(c *Conn, inline bool) {
	switch {
	case !c.kept:
		s.endConn(c)
	// A registration connection: anything that happens on it (data, EOF,
	// error) ends it and its registration. The server's epoll watcher
	// waits for that without a goroutine; when it cannot, one waits.
	case s.watchKept(c):
	case inline:
		go s.finishKept(c)
	default:
		s.finishKept(c)
	}
}

// endConn closes a connection that is done with and forgets it.
func (s *Server) endConn(c *Conn) {
	_ = c.close()
	s.untrack(c)
}

// endKept waits until anything happens on a registration connection (at
// once when the watcher saw it happen), then ends its registration.
func (s *Server) endKept(c *Conn) {
	_ = c.nc.SetReadDeadline(time.Time{})
	// One byte is enough to end it; a registration must not hold a read
	// buffer for its lifetime.
	b := make([]byte, 1)
	n, err := c.nc.Read(b)
	data := b[:n]
	if n > 0 {
		// Read all that arrived, as the C epmd's one large read does:
		// closing with unread data would send a RST, not a FIN.
		buf := framePool.Get().(*[inbufSize]byte)
		data = append(data, buf[:readArrived(c.nc, buf[:inbufSize-2])]...)
		framePool.Put(buf)
	}
	s.keptEnded(c, data, err)
}

// endKeptNow ends, in the watcher's loop, a registration connection the
// watcher saw something happen on, as the C epmd's select loop does, when
// it is one of the accept loop's own (bare protocol, in-memory table: no
// step that waits) and what happened can be read without waiting: its
// registration, its close, its accounting. It reports false when it did
// not: a goroutine ends it then (finishKept).
func (s *Server) endKeptNow(c *Conn) bool {
	fc, ok := c.nc.(*fdConn)
	if !ok {
		return false
	}
	buf := framePool.Get().(*[inbufSize]byte)
	defer framePool.Put(buf)
	// All that arrived, in the one read endKept makes in two.
	n, err := fc.readNow(buf[:inbufSize-1])
	if err == errWouldBlock {
		return false
	}
	s.keptEnded(c, buf[:n], err)
	s.endConn(c)
	return true
}

// keptEnded ends a registration whose connection ended with data (what
// arrived on it) and err (what reading it returned when nothing did).
func (s *Server) keptEnded(c *Conn, data []byte, err error) {
	if c.closed.Load() {
		// Closed by the server (STOP, KILL, Close): already accounted for.
		c.release()
		return
	}
	s.logKeptEnd(c, data, err)
	if c.regNode != nil {
		c.release()
	} else {
		s.log1(msgUnregUnknownFD, slog.Int("fd", c.FD))
	}
}

// readArrived reads what has arrived on nc into buf without waiting for
// more, and returns how much it read.
func readArrived(nc net.Conn, buf []byte) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Read(func(fd uintptr) bool {
		n, _ = rawRead(int(fd), buf)
		return true // done, even on EAGAIN: nothing more has arrived
	})
	return max(n, 0)
}

// frameResult is what readFrame did.
type frameResult int

const (
	frameDone  frameResult = iota // a whole request is read
	frameDrop                     // the connection must be closed without reply
	frameLater                    // (now) more must be waited for
)

// readFrame reads one request the way the C epmd does: a first read of up
// to inbufSize-1 bytes, then exactly what Len says is missing. buf holds
// *got bytes of it already. With now, it reads only what has arrived, and
// returns frameLater when it would have to wait for more.
func (s *Server) readFrame(c *Conn, buf []byte, got *int, now bool) ([]byte, frameResult) {
	want := 0
	if *got >= 2 { // checked when it was read
		want = int(binary.BigEndian.Uint16(buf)) + 2
	}
	for {
		if want > 0 && *got == want {
			return buf[2:want], frameDone
		}
		limit := inbufSize - 1
		if want > 0 {
			limit = want
		}
		var n int
		var err error
		if now {
			n, err = c.nc.(*fdConn).readNow(buf[*got:limit])
			if err == errWouldBlock {
				return nil, frameLater
			}
		} else {
			_ = c.nc.SetReadDeadline(time.Now().Add(closeAfter(s.packetTimeout(c))))
			n, err = c.nc.Read(buf[*got:limit])
		}
		if n > 0 && s.logLevels[2] {
			s.logBytes(c, buf[*got:*got+n])
		}
		*got += n
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				s.log1(msgTimedOut, slog.Int("fd", c.FD))
			case errors.Is(err, io.EOF):
				s.log0(msgPartial, slog.Int("fd", c.FD), slog.Int("got", *got))
			default:
				if !c.closed.Load() {
					s.log0(msgReadError, slog.Int("fd", c.FD), slog.Any("err", err))
				}
			}
			return nil, frameDrop
		}
		if want == 0 && *got >= 2 {
			want = int(binary.BigEndian.Uint16(buf)) + 2
			if want < 3 || want >= inbufSize {
				s.log0(msgPacketSize, slog.Int("size", want-2))
				return nil, frameDrop
			}
			if *got > want {
				s.log0(msgSurplus, slog.Int("got", *got-2), slog.Int("want", want-2))
				return nil, frameDrop
			}
		}
	}
}

// packetTimeout is how long c may stay idle while its request is read.
func (s *Server) packetTimeout(c *Conn) time.Duration {
	if d := time.Duration(c.packetTimeout.Load()); d != 0 {
		return d
	}
	if s.PacketTimeout != 0 {
		return s.PacketTimeout
	}
	return DefaultPacketTimeout
}

// decode applies the locality and relaxed-command rules and parses the
// request; it reports false when the request is dropped.
func (s *Server) decode(c *Conn, body []byte) (*Request, bool) {
	kind := kindOf(body[0])
	if kind != 0 && kind != KindKill {
		s.logGot(kind) // KILL is logged only once it passed the locality check
	}
	switch kind {
	case KindAlive2, KindDump, KindKill, KindStop:
		if !c.IsLocal {
			s.log0(msgNonLocal, slog.String("req", kind.String()), slog.String("peer", c.RemoteAddr.Addr().String()))
			return nil, false
		}
	}
	if kind == KindKill {
		s.logGot(kind)
	}
	if kind == KindStop && !s.RelaxedCommandCheck {
		s.log0(msgStopNo)
		return nil, false
	}
	var room *msgRoom
	if c.st != nil {
		room = &c.st.room
	}
	msg, err := parseRequest(body, room)
	if err != nil {
		s.logDropped(c, kind, body, err)
		return nil, false
	}
	if c.st != nil {
		r := &c.st.req
		*r = Request{Kind: kind, Msg: msg, Body: body, Conn: c, Registry: s.reg}
		return r, true
	}
	return &Request{Kind: kind, Msg: msg, Body: body, Conn: c, Registry: s.reg}, true
}

// kill performs a KILL_REQ: the server stops as after Close.
func (s *Server) kill() {
	s.killed.Store(true)
	go func() { _ = s.Close() }()
}

// Close closes the listeners and every connection at once; registrations
// end with their connections.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
		s.cancel()
	}
	s.closing.Store(true)
	for l := range s.listeners {
		_ = (*l).Close()
	}
	s.spareMu.Lock()
	if s.spare != nil {
		_ = s.spare.Close()
		s.spare = nil
	}
	s.spareMu.Unlock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// In the order they were accepted, as the C epmd's exit after a
	// KILL_REQ (epmd_cleanup_exit) closes its slots, logging each.
	slices.SortFunc(conns, func(a, b *Conn) int { return cmp.Compare(a.ID, b.ID) })
	for _, c := range conns {
		_ = c.close()
	}
	s.stopKept()
	return nil
}

// Shutdown closes the server as Close does and waits until every
// connection goroutine has ended, or ctx is done. An epmd has no requests
// worth draining: a registration lasts as long as its connection.
func (s *Server) Shutdown(ctx context.Context) error {
	_ = s.Close()
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the server has been closed or killed.
func (s *Server) Done() <-chan struct{} {
	s.init()
	return s.done
}

func (s *Server) isClosing() bool { return s.closing.Load() }

// Killed reports whether the server was stopped by a KILL_REQ.
func (s *Server) Killed() bool { return s.killed.Load() }

// addrPortOf keeps the address in the form the kernel gave: an IPv4 peer of
// a dual-stack socket stays IPv4-mapped and so, as in the C epmd, is not
// taken for a loopback peer.
func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return netip.AddrPortFrom(ip.WithZone(ta.Zone), uint16(ta.Port))
		}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// ServeRequest runs the server's handler chain on one decoded request, as
// a connection does after reading and decoding it. It is for tests and
// benchmarks of middleware without sockets.
func (s *Server) ServeRequest(ctx context.Context, w ResponseWriter, r *Request) {
	s.init()
	s.handler.ServeEPMD(ctx, w, r)
}
