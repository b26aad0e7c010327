package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// ---------------------------------------------------------------------------
// Servers

// serverSpec says how to start a server.
type serverSpec struct {
	args    []string // flags; "-port P" is appended unless portEnv
	env     []string // extra environment, KEY=VALUE
	portEnv bool     // pass the port as ERL_EPMD_PORT instead of -port
	none    bool     // start no server: the case runs the binary itself
}

// server is a running epmd process started by the test.
type server struct {
	impl   impl
	port   int
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{} // closed when the process has exited
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// epmdEnv is the process environment without the ERL_EPMD_* variables,
// plus extra.
func epmdEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ERL_EPMD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var hasIPv6Loopback = sync.OnceValue(func() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
})

// startPair starts the C server and the Go server with the same spec; they
// are stopped when the test ends.
func startPair(t *testing.T, impls [2]impl, spec serverSpec) [2]*server {
	t.Helper()
	pair, err := startPairErr(impls, spec)
	for _, srv := range pair {
		if srv != nil {
			t.Cleanup(func() {
				for _, p := range srv.shutdown() {
					t.Error(p)
				}
			})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// startPairErr starts both servers (with spec.none: only picks their ports).
// Whatever started is returned also on error.
func startPairErr(impls [2]impl, spec serverSpec) ([2]*server, error) {
	var pair [2]*server
	var errs [2]error
	var wg sync.WaitGroup
	for i, im := range impls {
		wg.Go(func() {
			if spec.none {
				port, err := epmdtest.Reserve() // below the ephemeral range, locked against other test processes
				pair[i], errs[i] = &server{impl: im, port: port}, err
				return
			}
			pair[i], errs[i] = startServer(im, spec)
		})
	}
	wg.Wait()
	return pair, errors.Join(errs[0], errs[1])
}

// startServer launches a server and waits until it answers NAMES. A server
// that exits 0 at once lost a race for its port and is started again on
// another one.
func startServer(im impl, spec serverSpec) (*server, error) {
	var lastErr error
	for range 3 {
		port, err := epmdtest.Reserve() // below the ephemeral range, locked against other test processes
		if err != nil {
			return nil, err
		}
		s := &server{impl: im, port: port, exited: make(chan struct{})}
		args := append([]string(nil), spec.args...)
		env := spec.env
		if spec.portEnv {
			env = append(append([]string(nil), env...), fmt.Sprintf("ERL_EPMD_PORT=%d", port))
		} else {
			args = append(args, "-port", strconv.Itoa(port))
		}
		s.cmd = exec.Command(im.path, args...)
		s.cmd.Env = epmdEnv(env...)
		s.cmd.Stdout = &s.stdout
		s.cmd.Stderr = &s.stderr
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s epmd: %w", im.name, err)
		}
		go func() { s.cmd.Wait(); close(s.exited) }()
		err = s.waitReady()
		if err == nil {
			return s, nil
		}
		lastErr = err
		s.kill()
		if s.cmd.ProcessState == nil || s.cmd.ProcessState.ExitCode() != 0 {
			return nil, err
		}
	}
	return nil, lastErr
}

// waitReady polls until the server answers a NAMES request.
func (s *server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("%s epmd %v exited during start-up (%v); stderr: %q",
				s.impl.name, s.cmd.Args, s.cmd.ProcessState, s.stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(startTimeout))
			c.Write([]byte{0, 1, 'n'})
			reply, _ := io.ReadAll(c)
			c.Close()
			if len(reply) >= 4 {
				return nil
			}
		}
		pause(pollInterval)
	}
	return fmt.Errorf("%s epmd %v did not answer NAMES within %v; stderr: %q",
		s.impl.name, s.cmd.Args, startTimeout, s.stderr.String())
}

// pause paces a polling loop or a deliberately slow sender; it never stands
// in for waiting on a condition.
func pause(d time.Duration) { <-time.After(d) }

// kill ends the process (if it still runs) and waits for it.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// shutdown ends the server and reports problems: a server must never write
// to stdout (epmd_SUITE owns its stdout pipe, behaviour §11).
func (s *server) shutdown() []string {
	s.kill()
	if out := s.stdout.String(); out != "" {
		return []string{fmt.Sprintf("%s epmd wrote to stdout: %q", s.impl.name, out)}
	}
	return nil
}

// waitExit waits for the server process to exit; it reports the exit
// status, or "running".
func (s *server) waitExit(d time.Duration) string {
	select {
	case <-s.exited:
		return fmt.Sprintf("exited status=%d", s.cmd.ProcessState.ExitCode())
	case <-time.After(d):
		return "running"
	}
}
