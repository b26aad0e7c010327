package epmd

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// keptConns watches registration connections with one epoll instance of
// the server's own, as the C epmd's select() does, instead of one
// goroutine blocked in Read per registration: a registration then holds
// no goroutine stack (4–8 KiB each, most of a registration's memory).
// The epoll instance is itself waited on through Go's poller, so it holds
// no thread either. When anything happens on a connection (data, EOF,
// error), or the server closes it, a goroutine ends it as a waiting one
// would have.
type keptConns struct {
	mu      sync.Mutex
	started bool // the epoll instance and its loop exist
	off     bool // cannot watch (no epoll) or stopped: callers wait themselves
	ep      *os.File
	epfd    int
	conns   map[uint64]*Conn

	// Connections whose request is still on its way wait in the same
	// instance (fdConn.awaitReadable): the loop signals their channel.
	waiters map[uint64]chan struct{}
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
	ev := epollData(c.ID)
	// Control holds the descriptor open: a connection closed meanwhile
	// fails here instead of watching whatever reuses its number.
	cerr := raw.Control(func(fd uintptr) { err = epollAdd(k.epfd, int(fd), &ev) })
	if cerr != nil || err != nil {
		delete(k.conns, c.ID)
		c.watched.Store(false)
		return false
	}
	return true
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
	k.waiters = make(map[uint64]chan struct{})
	go s.keptLoop(rc)
	return true
}

// keptLoop ends each connection something happened on, until stopKept
// closes the epoll instance.
func (s *Server) keptLoop(rc syscall.RawConn) {
	defer s.wg.Done()
	k := &s.keptConns
	var evs [64]syscall.EpollEvent
	for {
		n := 0
		var werr error
		err := rc.Read(func(fd uintptr) bool {
			n, werr = epollWaitNow(int(fd), evs[:])
			if errors.Is(werr, syscall.EINTR) {
				n, werr = 0, nil
			}
			return n > 0 || werr != nil
		})
		for i := range max(n, 0) {
			id := epollID(&evs[i])
			k.mu.Lock()
			c := k.conns[id]
			delete(k.conns, id)
			ready := k.waiters[id]
			delete(k.waiters, id)
			k.mu.Unlock()
			switch {
			case c != nil:
				if !s.endKeptNow(c) {
					go s.finishKept(c)
				}
			case ready != nil:
				signal(ready)
			}
		}
		if err != nil || werr != nil {
			k.mu.Lock()
			k.off = true
			// Whatever is still watched waits in a goroutine of its own,
			// and whatever waits for a request, in the poller.
			for id, c := range k.conns {
				delete(k.conns, id)
				go s.finishKept(c)
			}
			for id, ready := range k.waiters {
				delete(k.waiters, id)
				signal(ready)
			}
			_ = k.ep.Close() // already closed when stopKept ended the loop
			k.mu.Unlock()
			return
		}
	}
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

// signal sends on a channel with room for one signal, unless one is
// already waiting there; on a nil channel it does nothing.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
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

// epollAdd adds fd to the instance, or re-arms it when it is there
// already: a registration whose request once waited in it.
func epollAdd(epfd, fd int, ev *syscall.EpollEvent) error {
	err := epollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, ev)
	if err == syscall.EEXIST {
		err = epollCtl(epfd, syscall.EPOLL_CTL_MOD, fd, ev)
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
