package epmd

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// errWouldBlock is what fdConn's readNow and writeNow return when the
// call would have to wait.
var errWouldBlock = errors.New("epmd: would block")

// fdConn is a connection the server accepted with accept4 itself: a
// non-blocking socket driven with plain system calls. A request whose
// bytes came with the connection is then served with accept4, read, write
// and close alone: no getsockname, no TCP_NODELAY, no poller registration,
// no goroutine. A request that comes later waits in the server's own epoll
// instance (the one that watches registrations), whose loop reads and
// serves it (Server.awaitRequest), so that the whole of a request's
// service still goes without the runtime's system-call path (see rawIO).
// A Read or Write that must wait, which happens only when the server has
// no such instance or the socket does not take a whole reply at once,
// hands the socket to Go's poller as an *os.File, for good.
//
// The mutex keeps Close from closing the descriptor while a system call
// uses its number (which another connection could otherwise reuse); once
// the file exists, it does that itself.
type fdConn struct {
	mu       sync.Mutex
	fd       int      // -1 once closed
	f        *os.File // the poller's, once a call had to wait; owns fd
	rdl, wdl time.Time
	raddr    netip.AddrPort
	laddr    *net.TCPAddr // from getsockname, when first asked for
}

// file returns the poller's file, making it first if need be; c.mu is held.
func (c *fdConn) file() *os.File {
	if c.f == nil && c.fd >= 0 {
		// A non-blocking descriptor: os.NewFile adds it to the poller.
		c.f = os.NewFile(uintptr(c.fd), "")
		if !c.rdl.IsZero() {
			_ = c.f.SetReadDeadline(c.rdl)
		}
		if !c.wdl.IsZero() {
			_ = c.f.SetWriteDeadline(c.wdl)
		}
	}
	return c.f
}

// polled returns the poller's file, made if need be; nil once closed.
func (c *fdConn) polled() *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.file()
}

// readNow reads what has arrived, without waiting: errWouldBlock when
// nothing has, io.EOF at the end.
func (c *fdConn) readNow(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return 0, net.ErrClosed
	}
	if c.f != nil {
		return 0, errWouldBlock // the poller's now: the caller waits there
	}
	for {
		n, err := rawRead(c.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// writeNow writes as much of b as the socket takes without waiting; it
// returns errWouldBlock, and how much it wrote, when that is not all.
func (c *fdConn) writeNow(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return 0, net.ErrClosed
	}
	if c.f != nil {
		return 0, errWouldBlock
	}
	done := 0
	for done < len(b) {
		n, err := rawWrite(c.fd, b[done:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, errWouldBlock
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}

// Read reads as net.Conn's Read does, waiting in the poller when nothing
// has arrived.
func (c *fdConn) Read(b []byte) (int, error) {
	n, err := c.readNow(b)
	if err != errWouldBlock {
		return n, err
	}
	f := c.polled()
	if f == nil {
		return 0, net.ErrClosed
	}
	return f.Read(b)
}

// Write writes all of b, waiting in the poller for room when it must.
func (c *fdConn) Write(b []byte) (int, error) {
	n, err := c.writeNow(b)
	if err != errWouldBlock {
		return n, err
	}
	f := c.polled()
	if f == nil {
		return n, net.ErrClosed
	}
	m, err := f.Write(b[n:])
	return n + m, err
}

func (c *fdConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	fd := c.fd
	if fd < 0 {
		return net.ErrClosed
	}
	c.fd = -1
	if c.f != nil {
		return c.f.Close()
	}
	// Closing it also takes it out of the server's epoll instance.
	return os.NewSyscallError("close", rawClose(fd))
}

// setLinger0 makes Close send a RST.
func (c *fdConn) setLinger0() {
	_ = c.control(func(fd int) {
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	})
}

func (c *fdConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddr) }

func (c *fdConn) LocalAddr() net.Addr {
	c.mu.Lock()
	la := c.laddr
	c.mu.Unlock()
	if la != nil {
		return la
	}
	la = &net.TCPAddr{}
	_ = c.control(func(fd int) {
		if sa, err := syscall.Getsockname(fd); err == nil && sa != nil {
			la = net.TCPAddrFromAddrPort(sockaddrAddrPort(sa))
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.laddr == nil {
		c.laddr = la
	}
	return c.laddr
}

func (c *fdConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *fdConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	if c.f != nil {
		return c.f.SetReadDeadline(t)
	}
	return nil
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	if c.f != nil {
		return c.f.SetWriteDeadline(t)
	}
	return nil
}

// control runs fn on the descriptor while it cannot be closed.
func (c *fdConn) control(fn func(fd int)) error {
	c.mu.Lock()
	if c.f != nil {
		f := c.f
		c.mu.Unlock()
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(func(fd uintptr) { fn(int(fd)) })
	}
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	fn(c.fd)
	return nil
}

// epollAdd adds the socket to an epoll instance, or re-arms it there,
// while it cannot be closed; never once it is the poller's.
func (c *fdConn) epollAdd(epfd int, ev *syscall.EpollEvent, in *bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.fd < 0:
		return net.ErrClosed
	case c.f != nil:
		return errWouldBlock
	}
	return epollAdd(epfd, c.fd, ev, in)
}

// SyscallConn gives the descriptor to the server's registration watcher
// and to readArrived.
func (c *fdConn) SyscallConn() (syscall.RawConn, error) { return fdRaw{c}, nil }

type fdRaw struct{ c *fdConn }

func (r fdRaw) Control(fn func(fd uintptr)) error {
	return r.c.control(func(fd int) { fn(uintptr(fd)) })
}

func (r fdRaw) Read(fn func(fd uintptr) bool) error  { return r.wait(fn, true) }
func (r fdRaw) Write(fn func(fd uintptr) bool) error { return r.wait(fn, false) }

// wait calls fn until it reports done: once on the bare descriptor, then
// through the poller, which waits between calls.
func (r fdRaw) wait(fn func(fd uintptr) bool, read bool) error {
	c := r.c
	c.mu.Lock()
	if c.fd < 0 {
		c.mu.Unlock()
		return net.ErrClosed
	}
	if c.f == nil && fn(uintptr(c.fd)) {
		c.mu.Unlock()
		return nil
	}
	f := c.file()
	c.mu.Unlock()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if read {
		return rc.Read(fn)
	}
	return rc.Write(fn)
}

// sockaddrAddrPort converts accept4's or getsockname's address, keeping
// an IPv4-mapped peer of a dual-stack socket IPv4-mapped (see addrPortOf).
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			zone := strconv.FormatUint(uint64(a.ZoneId), 10)
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}

// The system calls of a connection that cannot wait (a non-blocking
// socket) go without the runtime's entersyscall and exitsyscall: a
// goroutine that serves requests back to back would otherwise keep waking
// the runtime's monitor thread, which hands its processor to another
// thread when a call seems to last, for calls that take microseconds.

func rawRead(fd int, b []byte) (int, error)  { return rawIO(syscall.SYS_READ, fd, b) }
func rawWrite(fd int, b []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, b) }

func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawClose(fd int) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return e
	}
	return nil
}

// rawAccept4 accepts a connection on a non-blocking listening socket as
// a non-blocking, close-on-exec socket, and returns the peer's address.
func rawAccept4(fd int) (int, netip.AddrPort, error) {
	var rsa syscall.RawSockaddrAny
	l := uint32(syscall.SizeofSockaddrAny)
	nfd, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&l)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(nfd), rawAddrPort(&rsa), nil
}

// rawAddrPort converts a socket address as accept4 gives it.
func rawAddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		a := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&a.Port))[:])
		return sockaddrAddrPort(&syscall.SockaddrInet4{Port: int(port), Addr: a.Addr})
	case syscall.AF_INET6:
		a := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&a.Port))[:])
		return sockaddrAddrPort(&syscall.SockaddrInet6{Port: int(port), ZoneId: a.Scope_id, Addr: a.Addr})
	}
	return netip.AddrPort{}
}
