package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// cLogPrefix is the C log format's "epmd: DATE: " before each message.
var cLogPrefix = regexp.MustCompile(`(?m)^epmd: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)

// durations are the measured times in the takeover log.
var durations = regexp.MustCompile(`(after|waited)=[0-9.]+(µs|ms|s)`)

// stagingRun runs chaos-epmd with args and extra environment, as the
// given credential when cred is not nil, and returns its log (stderr,
// without the C format's date prefix) and exit status.
func stagingRun(t *testing.T, args, env []string, cred *syscall.SysProcAttr) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chaosEpmd(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = cred
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	// The C format ends lines with CRLF on stderr, as the C epmd does.
	log := strings.ReplaceAll(stderr.String(), "\r\n", "\n")
	return cLogPrefix.ReplaceAllString(log, ""), cmd.ProcessState.ExitCode()
}

// startCEpmd starts the C epmd on port with args and waits until it
// answers; the test ends it with KILL_REQ (it runs relaxed) or SIGKILL.
func startCEpmd(t *testing.T, port int, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(findCEpmd(t), append([]string{"-port", strconv.Itoa(port), "-relaxed_command_check"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	waitNames(t, port, nil)
	return cmd
}

// waitNames polls NAMES on the local port until the names registered are
// want (in any order; nil: the epmd just answers), for 20 s.
func waitNames(t *testing.T, port int, want []string) {
	t.Helper()
	cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	var got []string
	var err error
	for time.Now().Before(deadline) {
		var entries []epmd.NameEntry
		if _, entries, err = cl.Names(context.Background()); err == nil {
			got = got[:0]
			for _, e := range entries {
				got = append(got, e.Name)
			}
			slices.Sort(got)
			if want == nil || slices.Equal(got, want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	t.Fatalf("NAMES on port %d: %v (err %v), want %v", port, got, err, want)
}

// startErlNode starts a real node registering with the epmd on port.
func startErlNode(t *testing.T, port int, name string) {
	t.Helper()
	cmd := exec.Command("erl", "-sname", name, "-setcookie", "takeover", "-noshell", "-start_epmd", "false",
		"-eval", "receive stop -> ok end.")
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
}

// TestTakeoverHandback: chaos-epmd -takeover -handback -for takes the
// port from a C epmd under two real nodes, sees both register again, and
// at the end restarts the C epmd with its arguments, with which both
// register again. The log is pinned, its durations masked.
func TestTakeoverHandback(t *testing.T) {
	requireErlang(t)
	port := epmdtest.Port(t)
	orig := startCEpmd(t, port)
	cepmd := orig.Path
	startErlNode(t, port, "tka")
	startErlNode(t, port, "tkb")
	waitNames(t, port, []string{"tka", "tkb"})

	log, code := stagingRun(t, []string{"-takeover", "-handback", "-for", "6", "-port", strconv.Itoa(port)}, nil, nil)
	t.Cleanup(func() {
		// The restarted C epmd runs in a session of its own; it is relaxed.
		_, _ = (&epmd.Client{Port: port, Timeout: time.Second}).Kill(context.Background())
	})
	if code != 0 {
		t.Fatalf("exit status %d, want 0; log:\n%s", code, log)
	}
	lines := strings.Split(strings.TrimSuffix(durations.ReplaceAllString(log, "$1=D"), "\n"), "\n")
	pids := regexp.MustCompile(` pid=\d+`)
	for i, l := range lines {
		lines[i] = pids.ReplaceAllString(l, " pid=N")
		lines[i] = regexp.MustCompile(`nodes=tk., ?tk.`).ReplaceAllString(lines[i], "nodes=tka,tkb")
		lines[i] = strings.Replace(lines[i], "nodes=tkb,tka", "nodes=tka,tkb", 1)
	}
	if len(lines) == 8 {
		slices.Sort(lines[2:4])
		slices.Sort(lines[6:8])
	}
	args := fmt.Sprintf("%s -port %d -relaxed_command_check", cepmd, port)
	want := []string{
		fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=tka,tkb", cepmd, args),
		fmt.Sprintf("takeover: listening port=%d pid=N", port),
		"takeover: node registered again node=tka after=D",
		"takeover: node registered again node=tkb after=D",
		"run time over for=6s",
		fmt.Sprintf("handback: epmd restarted exe=%s args=%s pid=N nodes=tka,tkb", cepmd, args),
		"handback: node registered again node=tka after=D",
		"handback: node registered again node=tkb after=D",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	waitNames(t, port, []string{"tka", "tkb"})
}

// TestTakeoverRefuses: -takeover signals nothing and exits 1, naming the
// reason, when the process on the port is not an epmd, when several
// processes share the port, when the holder is not visible, or when it
// cannot be signalled.
func TestTakeoverRefuses(t *testing.T) {
	self, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	me := fmt.Sprintf("pid %d (%s)", os.Getpid(), strings.ReplaceAll(strings.TrimSuffix(string(self), "\x00"), "\x00", " "))
	listen := func(t *testing.T, serve func(net.Conn)) (int, *net.TCPListener) {
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if serve == nil {
			// No accept loop: (*TCPListener).File makes the socket
			// blocking, and Close would wait for a blocked Accept.
			return l.Addr().(*net.TCPAddr).Port, l
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go serve(c)
			}
		}()
		return l.Addr().(*net.TCPAddr).Port, l
	}
	notEpmd := func(port int, why string) string {
		return fmt.Sprintf("chaos-epmd: -takeover: port %d is held by %s, which does not answer NAMES as an epmd (%s); not taking over\n", port, me, why)
	}
	tests := []struct {
		name  string
		serve func(net.Conn)
		want  func(port int) string
	}{
		{name: "closes after reading", serve: func(c net.Conn) { _, _ = c.Read(make([]byte, 3)); c.Close() },
			want: func(port int) string { return notEpmd(port, "it closed the connection without a reply") }},
		{name: "resets", serve: func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0); c.Close() },
			want: func(port int) string { return notEpmd(port, "error: Connection reset by peer") }},
		{name: "never answers", serve: func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() },
			want: func(port int) string { return notEpmd(port, "no reply within 2s") }},
		{name: "answers HTTP", serve: func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
			c.Close()
		}, want: func(port int) string { return notEpmd(port, `it replied "HTTP/1.1 400 Bad"`) }},
		{name: "held by two processes"}, // refused before any request
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, l := listen(t, tt.serve)
			want := ""
			if tt.want != nil {
				want = tt.want(port)
			} else {
				f, err := l.File()
				if err != nil {
					t.Fatal(err)
				}
				sleep := exec.Command("sleep", "60")
				sleep.ExtraFiles = []*os.File{f}
				if err := sleep.Start(); err != nil {
					t.Fatal(err)
				}
				f.Close()
				t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
				pids := []int{os.Getpid(), sleep.Process.Pid}
				holders := []string{me, fmt.Sprintf("pid %d (sleep 60)", sleep.Process.Pid)}
				if pids[0] > pids[1] {
					holders[0], holders[1] = holders[1], holders[0]
				}
				want = fmt.Sprintf("chaos-epmd: -takeover: port %d is held by several processes: %s, %s; not taking over\n", port, holders[0], holders[1])
			}
			log, code := stagingRun(t, []string{"-takeover", "-handback", "-port", strconv.Itoa(port)}, nil, nil)
			if code != 1 || log != want {
				t.Fatalf("exit %d, log %q; want exit 1, log %q", code, log, want)
			}
		})
	}

	t.Run("another user's epmd", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: runs chaos-epmd as nobody against root's epmd")
		}
		// nobody must be able to run the binary.
		if err := os.Chmod(filepath.Dir(chaosEpmd(t)), 0o755); err != nil {
			t.Fatal(err)
		}
		port := epmdtest.Port(t)
		orig := startCEpmd(t, port)
		nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
		for _, c := range []struct {
			name string
			attr *syscall.SysProcAttr
			want string
		}{
			{name: "not visible", attr: &syscall.SysProcAttr{Credential: nobody},
				want: fmt.Sprintf("chaos-epmd: -takeover: port %d is held by a process not visible here (another user's); run chaos-epmd as that user or as root\n", port)},
			// CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19) let nobody
			// read root's descriptors; without CAP_KILL it cannot signal.
			{name: "cannot be signalled", attr: &syscall.SysProcAttr{Credential: nobody, AmbientCaps: []uintptr{2, 19}},
				want: fmt.Sprintf("chaos-epmd: -takeover: cannot signal pid %d (%s -port %d -relaxed_command_check): Operation not permitted; run chaos-epmd as its user or as root\n", orig.Process.Pid, orig.Path, port)},
		} {
			t.Run(c.name, func(t *testing.T) {
				log, code := stagingRun(t, []string{"-takeover", "-port", strconv.Itoa(port)}, nil, c.attr)
				if code != 1 || log != c.want {
					t.Fatalf("exit %d, log %q; want exit 1, log %q", code, log, c.want)
				}
			})
		}
		waitNames(t, port, nil) // still there
	})
}

// TestHandbackOnEveryEnd: whatever ends the run — SIGTERM, SIGINT, ctl
// stop, -for — -handback restarts the epmd taken over (here with no node).
func TestHandbackOnEveryEnd(t *testing.T) {
	bin := chaosEpmd(t)
	tests := []struct {
		name string
		args []string
		end  func(t *testing.T, cmd *exec.Cmd, admin string)
		log  string // the line that says why the run ended
	}{
		{name: "SIGTERM", end: func(t *testing.T, cmd *exec.Cmd, _ string) { _ = cmd.Process.Signal(syscall.SIGTERM) }},
		{name: "SIGINT", end: func(t *testing.T, cmd *exec.Cmd, _ string) { _ = cmd.Process.Signal(syscall.SIGINT) }},
		{name: "ctl stop", end: func(t *testing.T, _ *exec.Cmd, admin string) {
			if out, err := exec.Command(bin, "ctl", "-admin", admin, "stop").CombinedOutput(); err != nil {
				t.Errorf("ctl stop: %v %s", err, out)
			}
		}, log: "stop requested over the admin api\n"},
		{name: "-for", args: []string{"-for", "500ms"}, log: "run time over for=500ms\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := epmdtest.Port(t)
			orig := startCEpmd(t, port)
			admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(epmdtest.Port(t)))
			cmd := exec.Command(bin, append([]string{"-takeover", "-handback", "-port", strconv.Itoa(port), "-admin", admin}, tt.args...)...)
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_, _ = (&epmd.Client{Port: port, Timeout: time.Second}).Kill(context.Background())
			})
			waitLog(t, &stderr, "takeover: listening")
			if tt.end != nil {
				tt.end(t, cmd, admin)
			}
			err := cmd.Wait()
			log := cLogPrefix.ReplaceAllString(strings.ReplaceAll(stderr.String(), "\r\n", "\n"), "")
			log = regexp.MustCompile(` pid=\d+`).ReplaceAllString(log, " pid=N")
			log = regexp.MustCompile(`(?m)^fault injector seed=\d+$`).ReplaceAllString(log, "fault injector seed=S")
			args := fmt.Sprintf("%s -port %d -relaxed_command_check", orig.Path, port)
			want := "fault injector seed=S\n" + fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=\n", orig.Path, args) +
				fmt.Sprintf("takeover: listening port=%d pid=N\n", port) +
				fmt.Sprintf("admin api addr=%s\n", admin) +
				tt.log +
				fmt.Sprintf("handback: epmd restarted exe=%s args=%s pid=N nodes=\n", orig.Path, args)
			if err != nil || log != want {
				t.Fatalf("exit: %v, log:\n%s\nwant exit 0, log:\n%s", err, log, want)
			}
			waitNames(t, port, nil)
		})
	}
}

// TestHandbackCannotRestart: when the epmd's executable is gone by the end
// of the run (a package upgrade under it), -handback says so and exits 1.
func TestHandbackCannotRestart(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "epmd")
	b, err := os.ReadFile(findCEpmd(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	port := epmdtest.Port(t)
	cmd := exec.Command(exe, "-port", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitNames(t, port, nil)
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	log, code := stagingRun(t, []string{"-takeover", "-handback", "-for", "100ms", "-port", strconv.Itoa(port)}, nil, nil)
	log = regexp.MustCompile(` pid=\d+`).ReplaceAllString(log, " pid=N")
	gone := exe + " (deleted)"
	args := exe + " -port " + strconv.Itoa(port)
	want := fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=\n", gone, args) +
		fmt.Sprintf("takeover: listening port=%d pid=N\n", port) +
		"run time over for=100ms\n" +
		fmt.Sprintf("handback: cannot restart the epmd taken over exe=%s args=%s err=its executable %s was removed after it started\n", gone, args, exe)
	if code != 1 || log != want {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1, log:\n%s", code, log, want)
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog polls the log until it contains s, for 20 s.
func waitLog(t *testing.T, log *lockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 20 s:\n%s", s, log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestTakeoverNodeNotBack: a registration that does not come back (here a
// client that does not register again, as OTP before 24) is named after
// the takeover's 10 s, and -handback does not wait for it.
func TestTakeoverNodeNotBack(t *testing.T) {
	port := epmdtest.Port(t)
	orig := startCEpmd(t, port)
	cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: 5 * time.Second}
	reg, err := cl.Register(context.Background(), &epmd.Alive2Req{PortNo: 4711, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	waitNames(t, port, []string{"old"})
	log, code := stagingRun(t, []string{"-takeover", "-handback", "-for", "11", "-port", strconv.Itoa(port)}, nil, nil)
	t.Cleanup(func() { _, _ = (&epmd.Client{Port: port, Timeout: time.Second}).Kill(context.Background()) })
	log = regexp.MustCompile(` pid=\d+`).ReplaceAllString(log, " pid=N")
	args := fmt.Sprintf("%s -port %d -relaxed_command_check", orig.Path, port)
	want := fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=old\n", orig.Path, args) +
		fmt.Sprintf("takeover: listening port=%d pid=N\n", port) +
		"takeover: node did not register again (OTP before 24 does not; it stays reachable only over connections already open) node=old waited=10s\n" +
		"run time over for=11s\n" +
		fmt.Sprintf("handback: epmd restarted exe=%s args=%s pid=N nodes=\n", orig.Path, args)
	if code != 0 || log != want {
		t.Fatalf("exit %d, log:\n%s\nwant exit 0, log:\n%s", code, log, want)
	}
}

// TestHandbackWhenAdminFails: when the admin API cannot start after the
// takeover, chaos-epmd exits 1 but hands the epmd back first.
func TestHandbackWhenAdminFails(t *testing.T) {
	port := epmdtest.Port(t)
	orig := startCEpmd(t, port)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	admin := busy.Addr().String()
	log, code := stagingRun(t, []string{"-takeover", "-handback", "-admin", admin, "-port", strconv.Itoa(port)}, nil, nil)
	t.Cleanup(func() { _, _ = (&epmd.Client{Port: port, Timeout: time.Second}).Kill(context.Background()) })
	log = regexp.MustCompile(` pid=\d+`).ReplaceAllString(log, " pid=N")
	log = regexp.MustCompile(`(?m)^fault injector seed=\d+$`).ReplaceAllString(log, "fault injector seed=S")
	args := fmt.Sprintf("%s -port %d -relaxed_command_check", orig.Path, port)
	want := "fault injector seed=S\n" +
		fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=\n", orig.Path, args) +
		fmt.Sprintf("takeover: listening port=%d pid=N\n", port) +
		fmt.Sprintf("chaos-epmd: -admin %q: listen tcp %s: bind: address already in use\n", admin, admin) +
		fmt.Sprintf("handback: epmd restarted exe=%s args=%s pid=N nodes=\n", orig.Path, args)
	if code != 1 || log != want {
		t.Fatalf("exit %d, log:\n%s\nwant exit 1, log:\n%s", code, log, want)
	}
	waitNames(t, port, nil)
}
