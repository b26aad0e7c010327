package epmd

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"
)

// DefaultFileTable is how many descriptors a Server makes room for in the
// process's descriptor table when it starts serving: the most connections
// the C epmd can hold (FD_SETSIZE).
//
// Why grow the table ahead of need: when a process's descriptor table is
// full, the kernel allocates a larger one (64, 128, 256, 512, 1024, ...
// entries) and, in a multi-threaded process such as every Go program,
// waits an RCU grace period (8–24 ms measured here) before it frees the
// old one. The call that needed the descriptor — accept, in a server —
// blocks that long, and every connection behind it waits. The kernel never
// shrinks the table, so growing it once, before accept needs it, pays that
// wait once and off the accept path. Each entry costs the kernel 8 bytes
// (a pointer) and three bits of bitmaps: about 8.4 KiB per 1024 entries.
const DefaultFileTable = 1024

// RaiseFileLimit raises the process's soft limit on open files to its hard
// limit and returns the soft limit then in force (0 if it cannot be read).
func RaiseFileLimit() int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			rl = raised
		}
	}
	return clampInt(rl.Cur)
}

// fileLimit returns the soft limit on open files (0 if it cannot be read).
func fileLimit() int {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return clampInt(rl.Cur)
}

func clampInt(v uint64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// FileTableSize returns how many descriptors the process's descriptor
// table holds now (FDSize in /proc/self/status).
func FileTableSize() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("descriptor table size: %w", err)
	}
	_, rest, ok := bytes.Cut(b, []byte("\nFDSize:"))
	if !ok {
		return 0, errors.New("descriptor table size: no FDSize in /proc/self/status")
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	n, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil {
		return 0, fmt.Errorf("descriptor table size: %w", err)
	}
	return n, nil
}

// GrowFileTable makes the process's descriptor table hold at least n
// descriptors, so that opening descriptors below n never has to grow it,
// and returns its size. It duplicates a descriptor onto the lowest free
// number from n-1 and closes it again: the table stays grown. n must not
// exceed the soft limit on open files (EINVAL otherwise). The growth
// itself may take an RCU grace period (see DefaultFileTable); descriptors
// that other threads open meanwhile below the old size are not delayed.
func GrowFileTable(n int) (int, error) {
	if size, err := FileTableSize(); err == nil && n <= size {
		return size, nil
	}
	// Any descriptor will do; an epoll instance needs no file system.
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("grow descriptor table: %w", err)
	}
	defer syscall.Close(fd)
	hi, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, uintptr(max(n-1, 0)))
	if errno != 0 {
		return 0, fmt.Errorf("grow descriptor table to %d: %w", n, errno)
	}
	_ = syscall.Close(int(hi))
	return FileTableSize()
}

// prepare readies the process for the server's first accept: its
// descriptor table and its heap.
func (s *Server) prepare() {
	s.prepareFileTable()
	reserveHeap(s.HeapReserve)
}

// prepareFileTable grows the descriptor table to s.FileTable (at most the
// soft limit) before the server accepts its first connection, and sets
// the descriptor number at which it grows again, ahead of need.
func (s *Server) prepareFileTable() {
	want := s.FileTable
	if want < 0 {
		s.growAt.Store(math.MaxInt64)
		return
	}
	if want == 0 {
		want = DefaultFileTable
	}
	limit := fileLimit()
	size, err := GrowFileTable(min(want, limit))
	s.setGrowAt(size, limit, err)
}

// setGrowAt arms the growth ahead of need at half the table, or disarms
// it when the table already reaches the limit or cannot be grown.
func (s *Server) setGrowAt(size, limit int, err error) {
	if err != nil || size <= 0 || size >= limit {
		s.growAt.Store(math.MaxInt64)
		return
	}
	s.growAt.Store(int64(size / 2))
}

// growAhead doubles the descriptor table (up to the soft limit) in the
// background once half of it is in use: the growth's RCU wait then falls
// on a goroutine of its own while accept goes on below the old size.
func (s *Server) growAhead() {
	if !s.growing.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		s.growing.Store(false)
		return
	default:
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.growing.Store(false)
		limit := fileLimit()
		size, err := FileTableSize()
		if err == nil {
			size, err = GrowFileTable(min(2*size, limit))
		}
		s.setGrowAt(size, limit, err)
	}()
}
