package epmd

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// keptConns watches registration connections with one epoll instance of
// the server's own, as the C epmd's select() does, instead of one
// goroutine blocked in Read per registration: a registration then holds
// no goroutine stack (4–8 KiB each, most of a registration's memory).
// The epoll instance is itself waited on through Go's poller, so it holds
// no thread either. When anything happens on a connection (data, EOF,
// error), the loop ends it, or a goroutine does when that could wait;
// when the server closes it, a goroutine ends it.
type keptConns struct {
	mu      sync.Mutex
	started bool // the epoll instance and its loop exist
	off     bool // cannot watch (no epoll) or stopped: callers wait themselves
	ep      *os.File
	epfd    int
	conns   map[uint64]*Conn

	// Connections whose request is still on its way wait in the same
	// instance (awaitRequest): the loop reads and serves them.
	pending map[uint64]*pendingReq
}

// pendingReq is an accepted connection whose request has not all arrived:
// what came of it so far, and the timer of its packet timeout.
type pendingReq struct {
	c   *Conn
	w   *connWriter
	buf *[inbufSize]byte
	got int
	t   *time.Timer
	due time.Time // when t closes it, unless it was re-armed since
	ev  syscall.EpollEvent
}

// keptEvents are the events that end a registration connection. Each
// connection is reported once (EPOLLONESHOT).
const keptEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func epollData(id uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: keptEvents, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func epollID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// watchKept hands a registration connection to the watcher and reports
// whether it took it; when it did not, the caller waits on it itself.
func (s *Server) watchKept(c *Conn) bool {
	raw := c.raw
	if raw == nil {
		return false
	}
	var err error
	k := &s.keptConns
	k.mu.Lock()
	defer k.mu.Unlock()
	if !s.keptOn() {
		return false
	}
	c.watched.Store(true)
	k.conns[c.ID] = c
	// The socket cannot close meanwhile (fdConn's lock, or Control): one
	// closed before fails here instead of watching whatever reuses its
	// number.
	if fc, ok := c.nc.(*fdConn); ok {
		ev := epollData(c.ID)
		err = fc.epollAdd(k.epfd, &ev, &c.inEpoll)
	} else {
		err = epollAddRaw(k.epfd, raw, c)
	}
	if err != nil {
		delete(k.conns, c.ID)
		c.watched.Store(false)
		return false
	}
	return true
}

// epollAddRaw adds a connection that is not an fdConn to the instance,
// through its RawConn; k.mu is held.
func epollAddRaw(epfd int, raw syscall.RawConn, c *Conn) error {
	var err error
	ev := epollData(c.ID)
	if cerr := raw.Control(func(fd uintptr) { err = epollAdd(epfd, int(fd), &ev, &c.inEpoll) }); cerr != nil {
		return cerr
	}
	return err
}

// keptOn reports whether the watcher runs, starting it first if it never
// did; k.mu is held.
func (s *Server) keptOn() bool {
	k := &s.keptConns
	if !k.started && !k.off {
		k.off = !s.startKept()
	}
	return !k.off
}

// startKept creates the epoll instance and starts its loop; k.mu is held.
func (s *Server) startKept() bool {
	k := &s.keptConns
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return false
	}
	// A non-blocking descriptor: Go's poller waits for it to be readable
	// (the instance has events ready) without a thread of its own.
	ep := os.NewFile(uintptr(epfd), "epmd registrations")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return false
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ep.Close()
		return false
	default:
	}
	s.wg.Add(1)
	s.mu.Unlock()
	k.ep, k.epfd, k.started = ep, epfd, true
	k.conns = make(map[uint64]*Conn)
	k.pending = make(map[uint64]*pendingReq)
	go s.keptLoop(rc)
	return true
}

// keptLoop ends each connection something happened on, until stopKept
// closes the epoll instance.
func (s *Server) keptLoop(rc syscall.RawConn) {
	defer s.wg.Done()
	k := &s.keptConns
	var evs [64]syscall.EpollEvent
	var n int
	var werr error
	collect := func(fd uintptr) bool { // made once: the loop allocates nothing
		n, werr = epollWaitNow(int(fd), evs[:])
		if errors.Is(werr, syscall.EINTR) {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	}
	for {
		n, werr = 0, nil
		err := rc.Read(collect)
		for i := range max(n, 0) {
			id := epollID(&evs[i])
			k.mu.Lock()
			var p *pendingReq
			c, ok := k.conns[id]
			if ok {
				delete(k.conns, id)
				// The loop ends it now: closing it need not look for it
				// here again (unwatchKept).
				c.watched.Store(false)
			} else if p = k.pending[id]; p != nil {
				delete(k.pending, id)
			}
			k.mu.Unlock()
			switch {
			case c != nil:
				if s.endKeptNow(c) {
					s.recycle(c)
				} else {
					go s.finishKept(c)
				}
			case p != nil:
				s.serveArrived(p)
			}
		}
		if err != nil || werr != nil {
			k.mu.Lock()
			k.off = true
			// Whatever is still watched or waits for its request waits
			// in a goroutine of its own.
			for id, c := range k.conns {
				delete(k.conns, id)
				c.watched.Store(false)
				go s.finishKept(c)
			}
			for id, p := range k.pending {
				delete(k.pending, id)
				s.serveLater(p)
			}
			_ = k.ep.Close() // already closed when stopKept ended the loop
			k.mu.Unlock()
			return
		}
	}
}

// awaitRequest hands an accepted connection whose request has not all
// arrived to the watcher, which reads the rest when it comes and serves
// it in its loop (serveArrived), as the C epmd's select loop does; the
// packet timeout, counted from the last read as there, closes it without
// reply. When the watcher cannot take it, a goroutine waits for the rest
// (serveLater).
func (s *Server) awaitRequest(p *pendingReq) {
	if !s.armPending(p) {
		s.serveLater(p)
	}
}

// armPending adds, or re-arms, a pending request's socket in the watcher's
// epoll instance and (re)starts its packet timeout; it reports false when
// the watcher is off or the socket cannot wait there.
func (s *Server) armPending(p *pendingReq) bool {
	k := &s.keptConns
	k.mu.Lock()
	defer k.mu.Unlock()
	if !s.keptOn() {
		return false
	}
	id := p.c.ID
	p.ev = epollData(id)
	if p.c.nc.(*fdConn).epollAdd(k.epfd, &p.ev, &p.c.inEpoll) != nil {
		return false
	}
	k.pending[id] = p
	d := closeAfter(s.packetTimeout(p.c))
	p.due = time.Now().Add(d)
	if p.t == nil {
		p.t = time.AfterFunc(d, func() { s.requestTimedOut(id) })
	} else {
		p.t.Reset(d)
	}
	return true
}

// serveArrived reads, in the watcher's loop, what arrived of a pending
// request, and serves it when it is whole; the bare protocol over the
// in-memory table, as on the accept loop, never waits.
func (s *Server) serveArrived(p *pendingReq) {
	body, res := s.readFrame(p.c, p.buf[:], &p.got, true)
	if res == frameLater {
		s.awaitRequest(p)
		return
	}
	p.t.Stop()
	s.serveBody(p.c, p.w, p.buf, body, res)
}

// serveLater has a goroutine of its own wait for the rest of a pending
// request and serve it.
func (s *Server) serveLater(p *pendingReq) {
	if p.t != nil {
		p.t.Stop()
	}
	p.w.now = false
	go s.serveFrame(p.c, p.w, p.buf, p.got)
}

// requestTimedOut closes a connection whose request did not all arrive
// within the packet timeout, unless the watcher took it first or armed it
// again.
func (s *Server) requestTimedOut(id uint64) {
	k := &s.keptConns
	k.mu.Lock()
	p := k.pending[id]
	// A timer that fired while the loop re-armed it (more arrived just
	// before the timeout) leaves it waiting: it fires again at the new due.
	if p == nil || time.Now().Before(p.due) {
		k.mu.Unlock()
		return
	}
	delete(k.pending, id)
	k.mu.Unlock()
	s.log1(msgTimedOut, slog.Int("fd", p.c.FD))
	framePool.Put(p.buf)
	s.endConn(p.c)
}

// unwatchKept ends a watched connection that was closed from outside
// (STOP, Close, Conn.Close), unless the watcher already did.
func (s *Server) unwatchKept(c *Conn) {
	k := &s.keptConns
	k.mu.Lock()
	_, ok := k.conns[c.ID]
	delete(k.conns, c.ID)
	k.mu.Unlock()
	if ok {
		go s.finishKept(c)
	}
}

// finishKept ends a registration connection as its own goroutine would
// have: its registration, its close, its accounting.
func (s *Server) finishKept(c *Conn) {
	s.endKept(c)
	s.endConn(c)
}

// stopKept stops the watcher's loop (Close calls it after closing every
// connection).
func (s *Server) stopKept() {
	k := &s.keptConns
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started && !k.off {
		k.off = true
		_ = k.ep.Close()
	}
}

// The watcher's system calls never wait, so they go without the runtime's
// entersyscall, as a connection's do (see rawIO).

func epollCtl(epfd, op, fd int, ev *syscall.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// epollAdd adds fd to the instance, or re-arms it when *in says it is
// there already (a request that waited there before: more of it, or a
// registration); it sets *in, under the watcher's lock. One call either
// way; a second only when *in was wrong.
func epollAdd(epfd, fd int, ev *syscall.EpollEvent, in *bool) error {
	op, other := syscall.EPOLL_CTL_ADD, syscall.EPOLL_CTL_MOD
	if *in {
		op, other = other, op
	}
	err := epollCtl(epfd, op, fd, ev)
	if err == syscall.EEXIST || err == syscall.ENOENT {
		err = epollCtl(epfd, other, fd, ev)
	}
	if err == nil {
		*in = true
	}
	return err
}

// epollWaitNow collects the events ready, without waiting.
func epollWaitNow(epfd int, evs []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
