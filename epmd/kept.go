package epmd

import (
	"errors"
	"sync"
	"syscall"
)

// keptConns watches registration connections with one epoll instance of
// the server's own, as the C epmd's select() does, instead of one
// goroutine blocked in Read per registration: a registration then holds
// no goroutine stack (4–8 KiB each, most of a registration's memory).
// When anything happens on a connection (data, EOF, error), or the server
// closes it, a goroutine ends it as a waiting one would have.
type keptConns struct {
	mu      sync.Mutex
	started bool // the epoll instance and its loop exist
	off     bool // cannot watch (no epoll) or stopped: callers wait themselves
	epfd    int
	wake    [2]int // a pipe; a byte on it stops the loop
	conns   map[uint64]*Conn
}

// keptEvents are the events that end a registration connection. Each
// connection is reported once (EPOLLONESHOT).
const keptEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// wakeID is the epoll data of the wake pipe; connection IDs start at 1.
const wakeID = 0

func epollData(id uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: keptEvents, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func epollID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// watchKept hands a registration connection to the watcher and reports
// whether it took it; when it did not, the caller waits on it itself.
func (s *Server) watchKept(c *Conn) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	k := &s.keptConns
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.started && !k.off {
		k.off = !s.startKept()
	}
	if k.off {
		return false
	}
	c.watched.Store(true)
	k.conns[c.ID] = c
	ev := epollData(c.ID)
	// Control holds the descriptor open: a connection closed meanwhile
	// fails here instead of watching whatever reuses its number.
	cerr := raw.Control(func(fd uintptr) { err = syscall.EpollCtl(k.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) })
	if cerr != nil || err != nil {
		delete(k.conns, c.ID)
		c.watched.Store(false)
		return false
	}
	return true
}

// startKept creates the epoll instance and starts its loop; k.mu is held.
func (s *Server) startKept() bool {
	k := &s.keptConns
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	if err := syscall.Pipe2(k.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return false
	}
	ev := epollData(wakeID)
	ev.Events = syscall.EPOLLIN
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, k.wake[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(k.wake[0])
		syscall.Close(k.wake[1])
		return false
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		syscall.Close(epfd)
		syscall.Close(k.wake[0])
		syscall.Close(k.wake[1])
		return false
	default:
	}
	s.wg.Add(1)
	s.mu.Unlock()
	k.epfd, k.started = epfd, true
	k.conns = make(map[uint64]*Conn)
	go s.keptLoop()
	return true
}

// keptLoop ends each connection something happened on, until stopKept.
func (s *Server) keptLoop() {
	defer s.wg.Done()
	k := &s.keptConns
	var evs [64]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(k.epfd, evs[:], -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		stop := err != nil
		for i := range max(n, 0) {
			id := epollID(&evs[i])
			if id == wakeID {
				stop = true
				continue
			}
			k.mu.Lock()
			c := k.conns[id]
			delete(k.conns, id)
			k.mu.Unlock()
			if c != nil {
				go s.finishKept(c)
			}
		}
		if stop {
			k.mu.Lock()
			k.off = true
			// Whatever is still watched waits in a goroutine of its own.
			for id, c := range k.conns {
				delete(k.conns, id)
				go s.finishKept(c)
			}
			syscall.Close(k.epfd)
			syscall.Close(k.wake[0])
			syscall.Close(k.wake[1])
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
	_ = c.close()
	s.untrack(c)
}

// stopKept stops the watcher's loop (Close calls it after closing every
// connection).
func (s *Server) stopKept() {
	k := &s.keptConns
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started && !k.off {
		k.off = true
		_, _ = syscall.Write(k.wake[1], []byte{1})
	}
}
