package epmd_test

// The descriptor table of this process, or of a child when earlier tests
// left this one too large (tableWithRoom; TestFileTable works in a child of
// its own): the kernel gives tables of a power of two entries, so every
// size below is exact (see make mutate).

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// fdConn is an in-memory connection that reports a chosen descriptor
// number, so a test can put a connection exactly where the growth of the
// descriptor table is armed.
type fdConn struct {
	memConn
	fd int
}

func (c fdConn) SyscallConn() (syscall.RawConn, error) { return fakeRaw(c.fd), nil }

type fakeRaw int

func (r fakeRaw) Control(f func(fd uintptr)) error { f(uintptr(r)); return nil }
func (fakeRaw) Read(func(fd uintptr) bool) error   { return syscall.ENOTSUP }
func (fakeRaw) Write(func(fd uintptr) bool) error  { return syscall.ENOTSUP }

// tableWithRoom makes this process's descriptor table at least 1024
// entries and reports its size, the limit, and whether the test runs here:
// when the table can double the given number of times under the limit.
// Earlier tests may have grown it past that (32,768 entries after the
// hostile ones, beyond a limit of 20,000), where the test could only skip;
// then it runs the test in a child process, whose table only the test
// grows, and passes, fails or skips as the child did. It runs here when it
// can, so that make mutate's coverage run counts what the test reaches (a
// child's coverage is not in the profile).
func tableWithRoom(t *testing.T, doublings int) (size, limit int, here bool) {
	t.Helper()
	limit = epmd.RaiseFileLimit()
	if _, err := epmd.GrowFileTable(1024); err != nil {
		t.Fatal(err)
	}
	size = fdTableSize(t)
	const env = "EPMD_FRESH_TABLE_TEST"
	if size<<doublings <= limit || inChild(t, env) {
		return size, limit, true
	}
	out := rerunInChild(t, env, nil)
	t.Logf("a table of %d entries here, limit %d: run in a child:\n%s", size, limit, out)
	return size, limit, false
}

// TestGrowAheadAtExactlyHalf: a connection on descriptor size/2 - 1 leaves
// the table alone; one on size/2 doubles it.
func TestGrowAheadAtExactlyHalf(t *testing.T) {
	size, limit, here := tableWithRoom(t, 1)
	if !here {
		return
	}
	if 2*size > limit {
		t.Skipf("table of %d entries, limit %d: no room to double it", size, limit)
	}
	for _, tt := range []struct {
		fd   int
		want int
	}{{size/2 - 1, size}, {size / 2, 2 * size}} {
		s := &epmd.Server{Port: 4369}
		l := newMemListener()
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		client, server := net.Pipe()
		addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4369}
		l.conns <- fdConn{memConn{Conn: server, local: addr, remote: addr}, tt.fd}
		if got, _ := readPiecesAfter(client, epmd.AppendFrame(nil, &epmd.NamesReq{})); len(got) != 1 {
			t.Fatalf("NAMES on descriptor %d: %v", tt.fd, got)
		}
		if err := s.Shutdown(context.Background()); err != nil { // waits for the growth too
			t.Fatal(err)
		}
		_ = l.Close()
		<-done
		if got := fdTableSize(t); got != tt.want {
			t.Errorf("after a connection on descriptor %d of a table of %d: %d entries, want %d", tt.fd, size, got, tt.want)
		}
		size = fdTableSize(t)
	}
}

// TestRaiseFileLimitFromLow: a soft limit below the hard one is raised to
// it.
func TestRaiseFileLimitFromLow(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max <= 1024 {
		t.Skipf("hard limit %d: nothing to raise from 1024", rl.Max)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) })
	low := syscall.Rlimit{Cur: 1024, Max: rl.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got := epmd.RaiseFileLimit()
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if uint64(got) != rl.Max || now.Cur != rl.Max {
		t.Errorf("RaiseFileLimit() from 1024 = %d, soft limit now %d; want both %d", got, now.Cur, rl.Max)
	}
}

func fdTableSize(t *testing.T) int {
	t.Helper()
	n, err := epmd.FileTableSize()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFileTableInProcess(t *testing.T) {
	s, limit, here := tableWithRoom(t, 3)
	if !here {
		return
	}
	t.Logf("descriptor table: %d entries, limit %d", s, limit)
	if 8*s > limit {
		t.Skipf("table of %d entries, limit %d: no room to double it three times", s, limit)
	}

	// A table that holds n already is left alone, even with its last
	// entry in use (a dup onto n-1 would then grow it).
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Dup3(fd, s-1, syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	got, err := epmd.GrowFileTable(s)
	_ = syscall.Close(s - 1)
	if err != nil || got != s || fdTableSize(t) != s {
		t.Fatalf("GrowFileTable(%d) on a full table of %d = %d, %v; table %d", s, s, got, err, fdTableSize(t))
	}

	// Growing to 2s gives exactly 2s: the dup is onto 2s-1.
	if got, err := epmd.GrowFileTable(2 * s); err != nil || got != 2*s {
		t.Fatalf("GrowFileTable(%d) = %d, %v; want %d", 2*s, got, err, 2*s)
	}
	if _, err := epmd.GrowFileTable(limit + 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("GrowFileTable(%d) beyond the limit: %v, want EINVAL", limit+1, err)
	}
	table := 2 * s

	// With FileTable 0 a server arms the growth at half the table: a
	// connection on a descriptor from table/2 on doubles it.
	var held []*os.File
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
	})
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
		if int(f.Fd()) >= table/2 {
			break
		}
	}
	names := func(srv *epmd.Server) {
		t.Helper()
		addr := startServer(t, srv)
		c := &epmd.Client{Addr: addr, Timeout: ioTimeout}
		if _, _, err := c.Names(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	names(&epmd.Server{})
	waitFor(t, "the table doubled ahead of need", func() bool { return fdTableSize(t) >= 2*table })
	if got := fdTableSize(t); got != 2*table {
		t.Fatalf("table grew to %d, want %d", got, 2*table)
	}
	table *= 2

	// FileTable n makes room for n at start.
	names(&epmd.Server{FileTable: 2 * table})
	if got := fdTableSize(t); got != 2*table {
		t.Fatalf("after serving with FileTable %d the table holds %d", 2*table, got)
	}
}
