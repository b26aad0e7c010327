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
