package epmd

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestWatcherDrainsMoreThanOneCollection: when more registration
// connections end at once than one collection of the watcher holds (64),
// the watcher ends every one of them. Events already waiting in its epoll
// instance send no new wake-up, so it must collect again until a
// collection leaves none behind before it waits in Go's poller.
func TestWatcherDrainsMoreThanOneCollection(t *testing.T) {
	const n = 150
	r := newInlineRig(t)
	clients := r.registerN(t, n)
	reg := r.s.reg.(*MemRegistry)

	// Hold the watcher back until every connection has ended, so that
	// more events wait in its instance at once than one collection holds.
	k := &r.s.keptConns
	k.mu.Lock()
	locked := true
	defer func() {
		if locked {
			k.mu.Unlock()
		}
	}()
	if len(k.conns) != n {
		t.Fatalf("%d connections watched, want %d", len(k.conns), n)
	}
	fds := watchedFDs(k)
	for _, c := range clients {
		_ = c.Close()
	}
	awaitFINs(t, fds)
	k.mu.Unlock()
	locked = false

	pollUntil(t, func() bool { return reg.Len() == 0 }, func() string {
		return fmt.Sprintf("%d of %d registrations outlived their connections", reg.Len(), n)
	})
	waitOpenConns(t, r.s, 0)
}

// tcpCloseWait is Linux's TCP_CLOSE_WAIT: the peer's FIN has arrived.
const tcpCloseWait = 8

// tcpState is a socket's TCP state, the first byte of its TCP_INFO.
func tcpState(t *testing.T, fd int) uint8 {
	t.Helper()
	var info syscall.TCPInfo
	size := uint32(unsafe.Sizeof(info))
	if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		t.Fatal(e)
	}
	return info.State
}

// TestStopKeptWhileTheWatcherHandles: closing the server while the
// watcher is in the middle of handling what it collected, with more of it
// still to handle, neither deadlocks nor loses a registration's end. (A
// watcher that handled events inside its wait in Go's poller would make
// closing the epoll instance wait for it, and then stopKept must not hold
// the lock that handling each event takes.)
func TestStopKeptWhileTheWatcherHandles(t *testing.T) {
	r := newInlineRig(t)
	clients := r.registerN(t, 2)
	reg := r.s.reg.(*MemRegistry)
	k := &r.s.keptConns
	k.mu.Lock()
	fds := watchedFDs(k)
	k.mu.Unlock()

	// The watcher blocks in the first registration's end, on the node
	// table's lock, with the second still to handle.
	reg.mu.Lock()
	regLocked := true
	defer func() {
		if regLocked {
			reg.mu.Unlock()
		}
	}()
	for _, c := range clients {
		_ = c.Close()
	}
	awaitFINs(t, fds)
	pollUntil(t, func() bool { return goroutineWith("epmd.(*Server).keptLoop", "epmd.(*MemRegistry).Unregister") },
		func() string { return "the watcher never blocked on the node table" })

	stopped := make(chan struct{})
	go func() { r.s.stopKept(); close(stopped) }()
	pollUntil(t, func() bool {
		select {
		case <-stopped:
			return true
		default:
			return goroutineWith("epmd.(*Server).stopKept", "os.(*File).Close")
		}
	}, func() string { return "stopKept neither returned nor reached closing the epoll instance" })
	reg.mu.Unlock()
	regLocked = false

	select {
	case <-stopped:
	case <-time.After(inlineIOTimeout):
		t.Fatal("stopKept did not return: it waits for the watcher, which waits for it")
	}
	pollUntil(t, func() bool { return reg.Len() == 0 }, func() string {
		return fmt.Sprintf("%d registrations outlived their connections", reg.Len())
	})
	waitOpenConns(t, r.s, 0)
}

// registerN registers n nodes, n0 to n(n-1), each on a connection of its
// own that the rig accepts and serves, and returns the clients' ends.
func (r *inlineRig) registerN(t *testing.T, n int) []*net.TCPConn {
	t.Helper()
	clients := make([]*net.TCPConn, n)
	for i := range n {
		c := r.dial(t, 0)
		req := AppendFrame(nil, &Alive2Req{PortNo: 5555, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: fmt.Sprintf("n%d", i)})
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		r.accept(t, len(req))
		reply := make([]byte, 6)
		if _, err := io.ReadFull(c, reply); err != nil || reply[0] != 'v' || reply[1] != 0 {
			t.Fatalf("registration %d: reply % x, %v", i, reply, err)
		}
		clients[i] = c
	}
	if got := r.s.reg.(*MemRegistry).Len(); got != n {
		t.Fatalf("%d registered, want %d", got, n)
	}
	return clients
}

// awaitFINs waits until every server socket in fds has its client's FIN.
func awaitFINs(t *testing.T, fds []int) {
	t.Helper()
	ended := func() int {
		m := 0
		for _, fd := range fds {
			if tcpState(t, fd) == tcpCloseWait {
				m++
			}
		}
		return m
	}
	pollUntil(t, func() bool { return ended() == len(fds) }, func() string {
		return fmt.Sprintf("%d of %d server sockets got the client's FIN", ended(), len(fds))
	})
}

// watchedFDs returns the descriptors of the connections the watcher
// watches; k.mu is held.
func watchedFDs(k *keptConns) []int {
	fds := make([]int, 0, len(k.conns))
	for _, c := range k.conns {
		fds = append(fds, c.FD)
	}
	return fds
}

// goroutineWith reports whether a goroutine's stack holds all of frames.
func goroutineWith(frames ...string) bool {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
next:
	for g := range strings.SplitSeq(stacks, "\n\n") {
		for _, f := range frames {
			if !strings.Contains(g, f) {
				continue next
			}
		}
		return true
	}
	return false
}
