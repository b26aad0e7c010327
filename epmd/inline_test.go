package epmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const inlineIOTimeout = 5 * time.Second

// inlineRig is a bare server and a listener whose connections a test
// accepts and serves itself, as Serve's accept loop does, so that it
// decides what has arrived before the server reads.
type inlineRig struct {
	s  *Server
	l  *net.TCPListener
	ol *onceCloseListener
	a  *rawAcceptor // on the duplicate of l's socket accept waits on
}

func newInlineRig(t *testing.T, configure ...func(*Server)) *inlineRig {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &inlineRig{s: &Server{Port: 4369}, l: l.(*net.TCPListener)}
	// Accepted sockets inherit a small, fixed send buffer: a large reply
	// does not fit in it, where on loopback the kernel would otherwise
	// size it to megabytes.
	lrc, err := r.l.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := lrc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	for _, f := range configure {
		f(r.s)
	}
	r.s.init()
	r.ol = &onceCloseListener{Listener: l}
	t.Cleanup(func() {
		_ = r.ol.Close()
		_ = r.s.Close()
	})
	rc := r.s.inlineListener(r.l, r.ol)
	if rc == nil {
		t.Fatal("inlineListener: nil for a bare server on a TCP listener")
	}
	r.a = newRawAcceptor(rc)
	return r
}

// accept takes the next connection off the queue the way Serve does on
// the inline path, waits until arrived bytes of its request are there, and
// serves it; it fails the test unless serveInline returns without waiting
// on the peer.
func (r *inlineRig) accept(t *testing.T, arrived int) *Conn {
	t.Helper()
	c, err := r.s.acceptRaw(r.a)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.nc.(*fdConn); !ok {
		t.Fatalf("accepted %T, want *fdConn", c.nc)
	}
	pollUntil(t, func() bool { return queued(t, c.FD) >= arrived }, func() string {
		return fmt.Sprintf("%d bytes arrived, want %d", queued(t, c.FD), arrived)
	})
	if !r.s.track(c) {
		t.Fatal("track: server closed")
	}
	served := make(chan struct{})
	go func() { r.s.serveInline(c); close(served) }()
	select {
	case <-served:
	case <-time.After(inlineIOTimeout):
		t.Fatal("serveInline waited on its peer")
	}
	return c
}

// queued is how many bytes wait to be read on the socket (SIOCINQ).
func queued(t *testing.T, fd int) int {
	t.Helper()
	n, e := inq(fd)
	if e != 0 {
		t.Fatal(e)
	}
	return n
}

// inq is the number of bytes queued on fd to be read (SIOCINQ, as
// FIONREAD); it allocates nothing.
func inq(fd int) (int, syscall.Errno) {
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), 0x541B, uintptr(unsafe.Pointer(&n)))
	return int(n), e
}

func (r *inlineRig) dial(t *testing.T, rcvbuf int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: inlineIOTimeout}
	if rcvbuf > 0 {
		// Before connect, so that the window the server sees is small.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	c, err := d.Dial("tcp4", r.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(inlineIOTimeout))
	return c.(*net.TCPConn)
}

// TestInlineReplyTheSocketDoesNotTake: a NAMES reply far larger than the
// socket takes at once leaves the accept loop at once (the rest is sent by
// a goroutine), connections behind it are served meanwhile, and the whole
// reply arrives, byte for byte, once its client reads.
func TestInlineReplyTheSocketDoesNotTake(t *testing.T) {
	r := newInlineRig(t)
	want, slow := r.slowNames(t)

	// The accept loop is free: the next connection is served whole.
	quick := r.dial(t, 0)
	name := fmt.Sprintf("%s%04d", strings.Repeat("n", 200), 7)
	if _, err := quick.Write(append([]byte{0, byte(1 + len(name)), 'z'}, name...)); err != nil {
		t.Fatal(err)
	}
	r.accept(t, 3+len(name))
	got, err := io.ReadAll(quick)
	if err != nil {
		t.Fatal(err)
	}
	wantPort := append([]byte{'w', 0, 0x4e, 0x27, 77, 0, 0, 6, 0, 5, 0, byte(len(name))}, name...)
	wantPort = append(wantPort, 0, 0)
	if !bytes.Equal(got, wantPort) {
		t.Fatalf("PORT_PLEASE2 behind the stuck reply = % x, want % x", got, wantPort)
	}

	got, err = io.ReadAll(slow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("NAMES reply: got %d bytes, want %d (equal prefix %d)", len(got), len(want), commonPrefix(got, want))
	}
	waitOpenConns(t, r.s, 0)
}

// slowNames registers 500 nodes with 204-byte names and asks NAMES on a
// connection with a small receive buffer that does not read yet. Its
// request arrives with it, so the rig serves it inline; the reply is far
// more than the socket takes at once, and the rest waits in a goroutine,
// with the connection open. It returns the whole reply and the client's
// connection.
func (r *inlineRig) slowNames(t *testing.T) ([]byte, *net.TCPConn) {
	t.Helper()
	want := registerLongNames(t, r.s)
	slow := r.dial(t, 4096)
	if _, err := slow.Write([]byte{0, 1, 'n'}); err != nil {
		t.Fatal(err)
	}
	r.accept(t, 3)
	if n := r.s.OpenConns(); n != 1 {
		t.Fatalf("%d connections open after serveInline, want 1 (the reply still being sent)", n)
	}
	return want, slow
}

// registerLongNames registers 500 nodes with 204-byte names, and returns
// the NAMES reply for them.
func registerLongNames(t *testing.T, s *Server) []byte {
	t.Helper()
	reg := s.reg.(*MemRegistry)
	const nodes = 500
	for i := range nodes {
		name := fmt.Sprintf("%s%04d", strings.Repeat("n", 200), i)
		if _, err := reg.Register(Node{Name: name, PortNo: uint16(20000 + i), NodeType: 77, Protocol: 0, HighVsn: 6, LowVsn: 5}); err != nil {
			t.Fatal(err)
		}
	}
	want := reg.NamesReply(4369)
	if len(want) < 100_000 {
		t.Fatalf("reply of %d bytes: too small to fill the sockets", len(want))
	}
	return want
}

// TestInlineCloseEndsPendingReply: a connection whose reply the socket did
// not take at once, served inline, outlives the accept loop's turn in a
// goroutine that sends the rest: Shutdown closes it, cutting the reply
// short, and waits for that goroutine.
func TestInlineCloseEndsPendingReply(t *testing.T) {
	r := newInlineRig(t)
	want, slow := r.slowNames(t)
	ctx, cancel := context.WithTimeout(context.Background(), inlineIOTimeout)
	defer cancel()
	if err := r.s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a reply being sent: %v", err)
	}
	got, err := io.ReadAll(slow)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the cut reply: %v", err)
	}
	if len(got) >= len(want) || !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("after Shutdown the client got %d bytes of the %d-byte reply (equal prefix %d), want a prefix of it cut short",
			len(got), len(want), commonPrefix(got, want))
	}
	if n := r.s.OpenConns(); n != 0 {
		t.Fatalf("%d connections open after Shutdown, want 0", n)
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func waitOpenConns(t *testing.T, s *Server, want int) {
	t.Helper()
	pollUntil(t, func() bool { return s.OpenConns() == want }, func() string {
		return fmt.Sprintf("%d connections open, want %d", s.OpenConns(), want)
	})
}

// pollUntil polls cond every millisecond until it holds, and fails the
// test with failure's text when it has not within inlineIOTimeout.
func pollUntil(t *testing.T, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(inlineIOTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
		time.Sleep(time.Millisecond) // polling, bounded by the deadline
	}
}

// TestInlineRequestInPieces: a request of which only part has arrived
// when the connection is accepted is finished later, reading exactly what
// the length says is missing, as the C epmd does; one that arrives whole
// and then more than it is dropped without reply. The rest is waited for
// in the server's epoll instance and read by its loop, again when it comes
// in more than one piece, so the socket never goes to Go's poller; when
// the server has no such instance, a goroutine waits in the poller, with
// the same outcome.
func TestInlineRequestInPieces(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("watcher off %v", off), func(t *testing.T) { testInlineRequestInPieces(t, off) })
	}
}

func testInlineRequestInPieces(t *testing.T, watcherOff bool) {
	tests := []struct {
		name   string
		first  []byte // there when the connection is accepted
		rest   []byte // sent after serveInline returned
		then   []byte // sent after the server read rest
		reply  []byte // what the client reads to the close
		closed bool   // the server closed the connection without reply
		reset  bool   // the server left bytes unread: a RST follows reply
	}{
		{name: "length only", first: []byte{0, 1}, rest: []byte{'n'}, reply: []byte{0, 0, 0x11, 0x11}},
		{name: "one byte", first: []byte{0}, rest: []byte{1, 'n'}, reply: []byte{0, 0, 0x11, 0x11}},
		{name: "port please, name cut", first: []byte{0, 4, 'z', 'a'}, rest: []byte("bc"), reply: []byte{'w', 1}},
		{name: "nothing", first: nil, rest: []byte{0, 1, 'n'}, reply: []byte{0, 0, 0x11, 0x11}},
		{name: "three pieces", first: []byte{0}, rest: []byte{4, 'z'}, then: []byte("abc"), reply: []byte{'w', 1}},
		// The rest is read to the length, not beyond: the surplus stays
		// unread, and the close sends a RST, as the C epmd's does.
		{name: "length only, then the rest and more", first: []byte{0, 1}, rest: []byte{'n', 'x'}, reply: []byte{0, 0, 0x11, 0x11}, reset: true},
		{name: "surplus at once", first: []byte{0, 1, 'n', 'x'}, closed: true},
		{name: "bad length", first: []byte{0, 0}, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newInlineRig(t)
			r.s.keptConns.off = watcherOff
			c := r.dial(t, 0)
			if len(tt.first) > 0 {
				if _, err := c.Write(tt.first); err != nil {
					t.Fatal(err)
				}
			}
			sc := r.accept(t, len(tt.first))
			if len(tt.rest) > 0 {
				if _, err := c.Write(tt.rest); err != nil {
					t.Fatal(err)
				}
			}
			if len(tt.then) > 0 {
				// The server read rest and waits again.
				pollUntil(t, func() bool { return queued(t, sc.FD) == 0 }, func() string {
					return fmt.Sprintf("%d bytes unread", queued(t, sc.FD))
				})
				if _, err := c.Write(tt.then); err != nil {
					t.Fatal(err)
				}
			}
			got, err := io.ReadAll(c)
			if tt.reset {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("read to the close: %v, want ECONNRESET", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tt.closed {
				tt.reply = []byte{}
			}
			if !bytes.Equal(got, tt.reply) {
				t.Fatalf("reply % x, want % x", got, tt.reply)
			}
			waitOpenConns(t, r.s, 0)
			polled := inPoller(sc)
			// Without the watcher the socket goes to the poller only if
			// the goroutine had to wait: whether the rest came first is
			// a race.
			if polled && !watcherOff {
				t.Error("socket handed to Go's poller, with the server's epoll instance there to wait in")
			}
		})
	}
}

// TestInlineRequestTimesOutWaiting: a connection whose request stops
// coming while it waits in the server's epoll instance is closed without
// reply at the packet timeout, not before, and logged as the C epmd logs
// it.
func TestInlineRequestTimesOutWaiting(t *testing.T) {
	var logs syncBuffer
	r := newInlineRig(t, func(s *Server) {
		s.PacketTimeout = 300 * time.Millisecond
		s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: LevelDebug1}))
	})
	c := r.dial(t, 0)
	if _, err := c.Write([]byte{0, 4, 'z'}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sc := r.accept(t, 3)
	got, err := io.ReadAll(c)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("reply % x, want none", got)
	}
	if took < r.s.PacketTimeout {
		t.Fatalf("closed after %v, before the packet timeout of %v", took, r.s.PacketTimeout)
	}
	waitOpenConns(t, r.s, 0)
	if inPoller(sc) {
		t.Error("socket handed to Go's poller while it waited")
	}
	want := fmt.Sprintf("msg=%q fd=%d\n", msgTimedOut, sc.FD)
	if got := logs.String(); !strings.Contains(got, want) {
		t.Errorf("log:\n%s\nwant a line ending %q", got, want)
	}
}

// inPoller reports whether a connection's socket was handed to Go's poller.
func inPoller(c *Conn) bool {
	fc := c.nc.(*fdConn)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.f != nil
}

// syncBuffer is a log destination a test reads after the server wrote.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestInlineRegistrationKept: a registration served inline is kept, and
// ends with its connection: handed to the server's epoll watcher, or,
// when the server cannot watch (no epoll), waited on by a goroutine of its
// own while the accept loop goes on.
func TestInlineRegistrationKept(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cannotWatch bool
	}{
		{"watched", false},
		{"watcher off", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newInlineRig(t)
			r.s.keptConns.off = tt.cannotWatch
			c := r.dial(t, 0)
			req := AppendFrame(nil, &Alive2Req{PortNo: 5555, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: "a"})
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			sc := r.accept(t, len(req))
			reply := make([]byte, 6)
			if _, err := io.ReadFull(c, reply); err != nil {
				t.Fatal(err)
			}
			if reply[0] != 'v' || reply[1] != 0 {
				t.Fatalf("ALIVE2_X_RESP % x", reply)
			}
			if n, ok := r.s.reg.Lookup("a"); !ok || n.PortNo != 5555 {
				t.Fatalf("Lookup(a) = %v, %v", n, ok)
			}
			if got := r.s.OpenConns(); got != 1 {
				t.Fatalf("%d connections open, want the registration's", got)
			}
			if got := sc.watched.Load(); got == tt.cannotWatch {
				t.Fatalf("watched by the server's epoll: %v, want %v", got, !tt.cannotWatch)
			}
			_ = c.Close()
			pollUntil(t, func() bool { _, ok := r.s.reg.Lookup("a"); return !ok },
				func() string { return "registration outlived its connection" })
			waitOpenConns(t, r.s, 0)
		})
	}
}

// TestFDConn: the connection type of the inline path behaves as a
// net.Conn where the server relies on it: a read with nothing there waits
// in the poller and times out as a net.Error; Close ends a waiting read;
// a write larger than the socket takes completes; nothing runs on a
// closed descriptor.
func TestFDConn(t *testing.T) {
	r := newInlineRig(t)
	peer := r.dial(t, 4096)
	c, err := r.s.acceptRaw(r.a)
	if err != nil {
		t.Fatal(err)
	}
	fc := c.nc.(*fdConn)
	if got, want := fc.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := fc.LocalAddr().String(), peer.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
	if !c.IsLocal {
		t.Error("a 127.0.0.1 peer is not local")
	}

	if n, err := fc.readNow(make([]byte, 4)); n != 0 || err != errWouldBlock {
		t.Fatalf("readNow with nothing there = %d, %v", n, err)
	}
	dl := time.Now().Add(time.Hour)
	if err := fc.SetDeadline(dl); err != nil || !fc.rdl.Equal(dl) || !fc.wdl.Equal(dl) {
		t.Fatalf("SetDeadline(%v) on the bare descriptor = %v; read deadline %v, write deadline %v", dl, err, fc.rdl, fc.wdl)
	}
	_ = fc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = fc.Read(make([]byte, 4))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past its deadline: %v, want a timeout", err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		read <- b
	}()
	if n, err := fc.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write of 1 MiB = %d, %v", n, err)
	}
	if got := <-read; !bytes.Equal(got, big) {
		t.Fatalf("peer read %d bytes, want %d", len(got), len(big))
	}

	_ = fc.SetReadDeadline(time.Time{})
	readErr := make(chan error)
	go func() {
		_, err := fc.Read(make([]byte, 4))
		readErr <- err
	}()
	// The read waits in the poller; Close must end it.
	time.AfterFunc(20*time.Millisecond, func() { _ = fc.Close() })
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("Read on a closed connection succeeded")
		}
	case <-time.After(inlineIOTimeout):
		t.Fatal("Close did not end a waiting Read")
	}
	if err := fc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := fc.writeNow([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("writeNow after Close = %v", err)
	}
	if err := (fdRaw{fc}).Control(func(uintptr) { t.Error("Control ran on a closed descriptor") }); err == nil {
		t.Error("Control after Close succeeded")
	}
	if err := (fdRaw{fc}).Read(func(uintptr) bool { t.Error("RawConn Read ran on a closed descriptor"); return true }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("RawConn Read after Close = %v, want net.ErrClosed", err)
	}
	if err := fc.SetDeadline(time.Now()); err == nil {
		t.Error("SetDeadline on the poller's closed file succeeded")
	}
}

// TestEpollAdd: a socket goes into the watcher's epoll instance with ADD,
// and is re-armed with MOD once it is there (a request that waited there,
// then its registration), each in one call; when the caller's record is
// wrong, the other operation still puts it there. Either way the socket's
// next event is reported once (EPOLLONESHOT).
func TestEpollAdd(t *testing.T) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if _, err := syscall.Write(fds[1], []byte{1}); err != nil { // fds[0] stays readable
		t.Fatal(err)
	}
	ev := epollData(7)
	events := func() []uint64 {
		var evs [4]syscall.EpollEvent
		n, err := epollWaitNow(epfd, evs[:])
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for i := range n {
			ids = append(ids, epollID(&evs[i]))
		}
		return ids
	}
	steps := []struct {
		name   string
		in     bool
		delete bool // take it out of the instance first
	}{
		{"not there, recorded so", false, false},
		{"there, recorded so", true, false},
		{"there, recorded as not", false, false},
		{"not there, recorded as there", true, true},
	}
	for _, st := range steps {
		if st.delete {
			if err := epollCtl(epfd, syscall.EPOLL_CTL_DEL, fds[0], &ev); err != nil {
				t.Fatalf("%s: EPOLL_CTL_DEL: %v", st.name, err)
			}
		}
		in := st.in
		if err := epollAdd(epfd, fds[0], &ev, &in); err != nil || !in {
			t.Fatalf("%s: epollAdd = %v, in = %v; want nil, true", st.name, err, in)
		}
		if got := events(); len(got) != 1 || got[0] != 7 {
			t.Fatalf("%s: events %v, want [7]", st.name, got)
		}
		if got := events(); len(got) != 0 {
			t.Fatalf("%s: events %v after the one-shot event, want none", st.name, got)
		}
	}
	// A descriptor it cannot watch leaves the record alone.
	in := false
	if err := epollAdd(epfd, -1, &ev, &in); err != syscall.EBADF || in {
		t.Fatalf("epollAdd on -1 = %v, in = %v; want EBADF, false", err, in)
	}
}

// TestFDConnOnDescriptorZero: descriptor 0 is a socket like any other. A
// program that embeds the server and closed its standard input gets its
// next socket there (Go opens /dev/null only for descriptors closed when
// it starts), and the connection must not take it for a closed one: it
// reads, writes, reads nothing into nothing, is watched, and closes, first
// with the bare descriptor, then once it went to Go's poller.
func TestFDConnOnDescriptorZero(t *testing.T) {
	saved, err := syscall.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Dup3(saved, 0, 0)
		_ = syscall.Close(saved)
	})
	// onZero makes descriptor 0 a non-blocking socket and returns its peer.
	onZero := func() (*fdConn, int) {
		t.Helper()
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fds[0] != 0 { // it is when 0 was free (closed before)
			if err := syscall.Dup3(fds[0], 0, syscall.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			_ = syscall.Close(fds[0])
		}
		t.Cleanup(func() { _ = syscall.Close(fds[1]) })
		return &fdConn{fd: 0}, fds[1]
	}
	peerRead := func(peer int, want string) {
		t.Helper()
		b := make([]byte, 16)
		var n int
		pollUntil(t, func() bool {
			n, err = syscall.Read(peer, b)
			return err != syscall.EAGAIN
		}, func() string { return "the peer read nothing" })
		if err != nil || string(b[:max(n, 0)]) != want {
			t.Fatalf("the peer read %q, %v; want %q", b[:max(n, 0)], err, want)
		}
	}

	fc, peer := onZero()
	if _, err := syscall.Write(peer, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n, err := fc.readNow(b); n != 3 || err != nil || string(b[:3]) != "abc" {
		t.Fatalf("readNow on descriptor 0 = %d, %v (%q); want 3, nil (abc)", n, err, b[:max(n, 0)])
	}
	if n, err := fc.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read into nothing = %d, %v; want 0, nil", n, err)
	}
	if n, err := fc.writeNow([]byte("xyz")); n != 3 || err != nil {
		t.Fatalf("writeNow on descriptor 0 = %d, %v; want 3, nil", n, err)
	}
	peerRead(peer, "xyz")
	ran := -1
	if err := (fdRaw{fc}).Control(func(fd uintptr) { ran = int(fd) }); err != nil || ran != 0 {
		t.Fatalf("Control = %v, ran on %d; want nil, 0", err, ran)
	}
	ran = -1
	if err := (fdRaw{fc}).Read(func(fd uintptr) bool { ran = int(fd); return true }); err != nil || ran != 0 {
		t.Fatalf("RawConn Read = %v, ran on %d; want nil, 0", err, ran)
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	ev, in := epollData(9), false
	if err := fc.epollAdd(epfd, &ev, &in); err != nil || !in {
		t.Fatalf("epollAdd of descriptor 0 = %v, in = %v; want nil, true", err, in)
	}
	if _, err := syscall.Write(peer, []byte("d")); err != nil {
		t.Fatal(err)
	}
	var evs [2]syscall.EpollEvent
	if n, err := syscall.EpollWait(epfd, evs[:], int(inlineIOTimeout/time.Millisecond)); n != 1 || err != nil || epollID(&evs[0]) != 9 {
		t.Fatalf("epoll_wait = %d, %v; want the one event of 9", n, err)
	}
	if n, err := fc.readNow(b); n != 1 || err != nil { // a FIN, not a RST, at the close
		t.Fatalf("readNow after the event = %d, %v; want 1, nil", n, err)
	}
	if err := fc.Close(); err != nil {
		t.Fatalf("Close of descriptor 0 = %v, want nil", err)
	}
	peerRead(peer, "") // the end of the stream: closed for real

	// Once a read waited, Go's poller owns the descriptor.
	fc, peer = onZero()
	_ = fc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, err := fc.Read(b); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read with nothing there on descriptor 0: %v, want a timeout", err)
	}
	if fc.f == nil {
		t.Fatal("the read that waited did not go to the poller")
	}
	// A RawConn Read whose first call is not done waits in the poller and
	// calls again once something arrives (the peer writes during the first).
	_ = fc.SetReadDeadline(time.Now().Add(inlineIOTimeout))
	calls := 0
	calls, n := 0, 0
	first := func(fd uintptr) bool {
		calls++
		if calls == 1 {
			if _, err := syscall.Write(peer, []byte("e")); err != nil {
				t.Error(err)
			}
			return false
		}
		n, _ = rawRead(int(fd), b)
		return true
	}
	if err := (fdRaw{fc}).Read(first); err != nil || calls != 2 || n != 1 {
		t.Fatalf("RawConn Read = %v after %d calls, %d bytes read; want nil after 2, 1", err, calls, n)
	}
	if err := fc.Close(); err != nil {
		t.Fatalf("Close of descriptor 0 from the poller = %v, want nil", err)
	}
	peerRead(peer, "")
}

// TestSockaddrZone: an IPv6 peer with a scope (a link-local address) keeps
// it, named after its interface when there is one, else by its number.
func TestSockaddrZone(t *testing.T) {
	ll := [16]byte{0: 0xfe, 1: 0x80, 15: 1}
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		zone uint32
		want string
	}{{0, "[fe80::1]:4369"}, {1, "[fe80::1%" + lo.Name + "]:4369"}, {1 << 30, "[fe80::1%1073741824]:4369"}} {
		got := sockaddrAddrPort(&syscall.SockaddrInet6{Port: 4369, ZoneId: tt.zone, Addr: ll}).String()
		if got != tt.want {
			t.Errorf("scope %d: %s, want %s", tt.zone, got, tt.want)
		}
	}
}
