package epmd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestHelperLowFileLimitServer is not a test: TestAtFileLimit runs it in a
// child process whose descriptor limit is 64.
func TestHelperLowFileLimitServer(t *testing.T) {
	if os.Getenv("EPMD_LOW_FD_SERVER") != "1" {
		t.Skip("helper process of TestAtFileLimit")
	}
	rl := syscall.Rlimit{Cur: 64, Max: 64}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &epmd.Server{}
	fmt.Println(l.Addr().String())
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		_ = s.Close()
	}()
	if err := s.Serve(l); !errors.Is(err, epmd.ErrServerClosed) {
		t.Fatal(err)
	}
}

// At the descriptor limit the server does what the C epmd does beyond its
// connection table: accept and close at once. Nothing crashes and no
// registration is lost; freed descriptors serve again.
func TestAtFileLimit(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLowFileLimitServer$")
	cmd.Env = append(os.Environ(), "EPMD_LOW_FD_SERVER=1")
	cmd.SysProcAttr = dieWithTest(nil)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("server process: %v", err)
		}
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	cl := &epmd.Client{Addr: strings.TrimSpace(addr), Timeout: ioTimeout}
	ctx := context.Background()
	var regs []*epmd.Registration
	shed := 0
	for i := range 100 {
		r, err := cl.Register(ctx, &epmd.Alive2Req{PortNo: uint16(i + 1), HighVsn: 6, LowVsn: 5, Name: fmt.Sprint("n", i)})
		if err != nil {
			// Closed with the request unread: FIN or RST, as with the C epmd.
			if !errors.Is(err, epmd.ErrNoResponse) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("register n%d: %v, want a registration or accept-and-close", i, err)
			}
			shed++
			continue
		}
		regs = append(regs, r)
	}
	if len(regs) == 0 || shed == 0 || len(regs)+shed != 100 {
		t.Fatalf("registered %d, closed at once %d; want both, adding to 100", len(regs), shed)
	}
	if _, _, err := cl.Names(ctx); err == nil {
		t.Fatal("NAMES answered while every descriptor is in use")
	}
	for _, r := range regs[:5] {
		r.Close()
	}
	var names []epmd.NameEntry
	waitFor(t, "NAMES answered again", func() bool {
		_, names, err = cl.Names(ctx)
		return err == nil && len(names) == len(regs)-5
	})
	for _, r := range regs[5:] {
		select {
		case <-r.Done():
			t.Fatal("a registration was lost at the descriptor limit")
		default:
		}
		r.Close()
	}
	t.Logf("limit 64: %d registrations held, %d connections accepted and closed", len(regs), shed)
}

func TestRaiseFileLimit(t *testing.T) {
	got := epmd.RaiseFileLimit()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur != rl.Max || uint64(got) != rl.Cur {
		t.Fatalf("RaiseFileLimit() = %d; soft limit %d, hard %d: want all equal", got, rl.Cur, rl.Max)
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func tableSize(t *testing.T) int {
	t.Helper()
	n, err := epmd.FileTableSize()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFileTable: FileTableSize, GrowFileTable and the server's FileTable
// and growth ahead of need, in a child process, whose descriptor table is
// still small and whose limit it lowers.
func TestFileTable(t *testing.T) {
	const env = "EPMD_FILE_TABLE"
	if !inChild(t, env) {
		t.Logf("child:\n%s", rerunInChild(t, env, nil))
		return
	}
	const limit = 8192
	rl := syscall.Rlimit{Cur: limit, Max: limit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	serve := func(s *epmd.Server) (*epmd.Client, func()) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		return &epmd.Client{Addr: l.Addr().String(), Timeout: ioTimeout}, func() {
			if err := s.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			if err := <-done; !errors.Is(err, epmd.ErrServerClosed) {
				t.Error(err)
			}
		}
	}
	start := tableSize(t)
	if start > 1024 {
		t.Fatalf("the child's descriptor table starts at %d entries", start)
	}

	// FileTable < 0: the server leaves the table alone.
	cl, stop := serve(&epmd.Server{FileTable: -1})
	if _, _, err := cl.Names(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if got := tableSize(t); got != start {
		t.Fatalf("FileTable -1: table grew to %d", got)
	}

	// GrowFileTable grows once, opens nothing, and refuses beyond the limit.
	fds := openFDs(t)
	size, err := epmd.GrowFileTable(start + 1)
	if err != nil {
		t.Fatal(err)
	}
	if size <= start || size != tableSize(t) || openFDs(t) != fds {
		t.Fatalf("GrowFileTable(%d) = %d; table %d, open descriptors %d (before %d)", start+1, size, tableSize(t), openFDs(t), fds)
	}
	if again, err := epmd.GrowFileTable(start); err != nil || again != size {
		t.Fatalf("GrowFileTable(%d) on a table of %d = %d, %v; want %d, nil", start, size, again, err, size)
	}
	if _, err := epmd.GrowFileTable(limit + 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("GrowFileTable beyond the limit: err = %v, want EINVAL", err)
	}

	// The server makes room for FileTable at start, then doubles the table
	// once half of it is in use, long before accept would need it.
	s := &epmd.Server{FileTable: size + 1}
	cl, stop = serve(s)
	defer stop()
	if _, _, err := cl.Names(ctx); err != nil {
		t.Fatal(err)
	}
	size = tableSize(t)
	if size < s.FileTable {
		t.Fatalf("after Serve with FileTable %d the table holds %d", s.FileTable, size)
	}
	var regs []*epmd.Registration
	defer func() {
		for _, r := range regs {
			r.Close()
		}
	}()
	for i := 0; openFDs(t) < size/2+8; i++ {
		r, err := cl.Register(ctx, &epmd.Alive2Req{PortNo: 1, HighVsn: 6, LowVsn: 5, Name: fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	waitFor(t, "the table doubled ahead of need", func() bool { return tableSize(t) >= 2*size })
	t.Logf("table %d entries at start, %d after Serve, %d with %d registrations held", start, size, tableSize(t), len(regs))
	if open := openFDs(t); open >= size {
		t.Fatalf("%d descriptors open: the table had to grow anyway", open)
	}
}
