package main_test

// The differential conformance test: the C epmd (Debian's erlang-base) and
// chaos-epmd are started with the same flags on free loopback ports and
// driven with the same byte sequences and command lines. Each case records a
// transcript (replies, how each connection ended, exit codes, outputs) for
// both servers; the transcripts must be equal. Values that legitimately
// differ between two servers are normalised before the comparison: the
// server's port, creation numbers (recorded as relations: "now+1", "last+1",
// "=last(a1)"), fd numbers and ctime stamps in log lines.
//
// One case per rule of ../shared/epmd-behaviour.md, by section:
//   §1  every request type, valid and invalid       (groups requests, port2, stop*, fresh)
//   §2  framing, limits and timeouts                (groups quiet, fresh, delays)
//   §3  registration lifetime, duplicates, creation (groups requests, fresh)
//   §4  local vs non-local peers                    (group nonlocal, in a network namespace)
//   §5  listening, -address, EADDRINUSE, -port      (group startup)
//   §6  connection limit                            (group fresh)
//   §7  command line                                (groups cli, usage)
//   §8  environment                                 (groups cli, startup)
//   §9  systemd socket activation                   (group startup)
//   §10 debug output                                (group debuglog)
//   §11 stdout/stderr pipes closed under the server (group startup)
//
// Environment:
//   CHAOS_EPMD_BIN  use this chaos-epmd binary instead of building one
//   C_EPMD_BIN      use this C epmd instead of the installed one
//   CONFORMANCE_SHOW=1  log every transcript, also when they agree
//   CI=true         a missing C epmd (or network namespace) fails instead of skipping

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Named timeouts. A reply or close that should come at once comes within
// replyTimeout; packet_timeout 1 closes an idle connection within ~3 s.
const (
	replyTimeout   = 3 * time.Second
	openWindow     = 300 * time.Millisecond  // silence that counts as "kept open" after a reply
	lateClose      = time.Second             // a close later than this is "closed after a delay" (a timeout)
	idleCloseLimit = 6 * time.Second         // packet_timeout 1 closes within this
	beyondTimeout  = 3500 * time.Millisecond // longer than packet_timeout 1 ever takes
	chunkGap       = 500 * time.Millisecond  // reads further apart than this are separate writes
	startTimeout   = 10 * time.Second
	pollTimeout    = 5 * time.Second
	pollInterval   = 20 * time.Millisecond
	cliTimeout     = 8 * time.Second
	stderrQuiet    = 250 * time.Millisecond // no new log output for this long: a step's logging is done
)

// impl is one epmd implementation under test.
type impl struct {
	name string // "C" or "Go"
	path string
}

// conformanceCase is one scripted interaction, run against both servers.
type conformanceCase struct {
	name string
	// server overrides the group's server flags (fresh groups only).
	server *serverSpec
	// skip, when it returns a reason, skips the case.
	skip func() string
	// sequential runs the case on the C server first, then on the Go
	// server with the C session as its reference (see session.ref).
	sequential bool
	run        func(s *session)
	// deviation marks a deliberate difference documented in the README:
	// instead of comparing the transcripts it checks each against what
	// its implementation is documented to do.
	deviation func(t *testing.T, c, chaos []string)
}

// strict and relaxed are the flags most cases use (what epmd_SUITE uses,
// bound to loopback only).
var (
	strict  = serverSpec{args: []string{"-packet_timeout", "1", "-address", "127.0.0.1"}}
	relaxed = serverSpec{args: []string{"-packet_timeout", "1", "-address", "127.0.0.1", "-relaxed_command_check"}}
)

func TestConformance(t *testing.T) {
	impls := [2]impl{{"C", findCEpmd(t)}, {"Go", chaosEpmdBin(t)}}

	if os.Getenv("CONFORMANCE_NETNS") == "1" {
		// Child process inside a fresh network namespace: only the
		// non-local group runs here (selected by -test.run).
		t.Run("nonlocal", func(t *testing.T) { runNonLocal(t, impls) })
		return
	}

	groups := []struct {
		name   string
		fresh  bool // a new server pair per case (otherwise one pair for the group)
		server serverSpec
		cases  []conformanceCase
	}{
		{"requests", false, strict, requestCases()},
		{"port2", false, strict, port2Cases()},
		{"quiet", false, strict, quietCases()},
		{"stop_strict", false, strict, stopStrictCases()},
		{"stop_relaxed", false, relaxed, stopRelaxedCases()},
		{"fresh", true, strict, freshCases()},
		{"delays", true, strict, delayCases()},
		{"cli", true, strict, cliCases()},
		{"usage", true, serverSpec{none: true}, usageCases()},
		{"startup", true, serverSpec{none: true}, startupCases()},
		{"debuglog", true, strict, debugLogCases()},
	}
	// go test runs at most GOMAXPROCS parallel subtests, but the cases
	// mostly wait on sockets and timers. So each group runs its cases
	// concurrently itself (at most caseConcurrency at a time overall) and
	// then reports each case as a subtest.
	slots := make(chan struct{}, caseConcurrency)
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			var shared [2]*server
			if !g.fresh {
				shared = startPair(t, impls, g.server)
			}
			outcomes := make([]outcome, len(g.cases))
			var wg sync.WaitGroup
			for i, c := range g.cases {
				wg.Go(func() {
					slots <- struct{}{}
					defer func() { <-slots }()
					outcomes[i] = execute(impls, g.fresh, g.server, shared, c)
				})
			}
			wg.Wait()
			for i, c := range g.cases {
				t.Run(c.name, outcomes[i].report)
			}
		})
	}
	t.Run("nonlocal", func(t *testing.T) {
		t.Parallel()
		runNonLocal(t, impls)
	})
}

// caseConcurrency bounds how many cases run at once.
const caseConcurrency = 8

// outcome is the result of running one case against both servers.
type outcome struct {
	deviation func(t *testing.T, c, chaos []string)
	skip      string
	err       error       // the servers did not start
	sessions  [2]*session // C, Go
	problems  []string    // e.g. a server wrote to stdout
}

// execute runs a case: on the group's shared servers, or on a fresh pair
// that is stopped afterwards.
func execute(impls [2]impl, fresh bool, spec serverSpec, shared [2]*server, c conformanceCase) (o outcome) {
	o.deviation = c.deviation
	if c.skip != nil {
		if o.skip = c.skip(); o.skip != "" {
			return o
		}
	}
	servers := shared
	if fresh {
		if c.server != nil {
			spec = *c.server
		}
		var err error
		servers, err = startPairErr(impls, spec)
		defer func() {
			for _, srv := range servers {
				if srv != nil {
					o.problems = append(o.problems, srv.shutdown()...)
				}
			}
		}()
		if err != nil {
			o.err = err
			return o
		}
	}
	o.sessions = runSessions(servers, c.sequential, c.run)
	return o
}

func (o outcome) report(t *testing.T) {
	if o.skip != "" {
		t.Skip(o.skip)
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	for _, p := range o.problems {
		t.Error(p)
	}
	if o.deviation != nil {
		o.deviation(t, o.sessions[0].lines, o.sessions[1].lines)
		return
	}
	compareTranscripts(t, o.sessions[0], o.sessions[1])
}

// wantLines checks that a transcript's lines start as want says: each entry
// is a prefix of the line at its position.
func wantLines(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	for i, w := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], w) {
			t.Errorf("%s transcript line %d: got %q, want prefix %q\nwhole transcript: %q", who, i+1, at(got, i), w, got)
			return
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<none>"
}

// chaosEpmdBin is $CHAOS_EPMD_BIN, or the binary chaosEpmd (in
// realnode_test.go) builds once per test process.
func chaosEpmdBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAOS_EPMD_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	return chaosEpmd(t)
}

// skipOrFail skips the test, except under CI=true, where a test that did not
// run must fail.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", why)
	}
	t.Skip(why)
}

// findCEpmd locates the C epmd: $C_EPMD_BIN, the erts bin directory of the
// installed Erlang (preferred over PATH, where chaos-epmd may be installed
// as "epmd"), or epmd on PATH.
func findCEpmd(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("C_EPMD_BIN"); p != "" {
		return p
	}
	candidates, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd")
	if p, err := exec.LookPath("epmd"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	skipOrFail(t, "C epmd not installed (make deps installs erlang-base)")
	return ""
}

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

// freeLoopbackPort returns a TCP port that is free on 127.0.0.1 (and ::1
// when it exists) and was not handed out before in this process. It is
// taken below the kernel's ephemeral range (32768 and up by default), so
// the test's own client connections cannot occupy it.
func freeLoopbackPort() (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ok := true
		if hasIPv6Loopback() {
			l6, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port))
			if err != nil {
				ok = false
			} else {
				l6.Close()
			}
		}
		l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// handedOut holds the ports freeLoopbackPort returned.
var handedOut sync.Map

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
				port, err := freeLoopbackPort()
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
		port, err := freeLoopbackPort()
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

// ---------------------------------------------------------------------------
// Running a case on both servers

// runCase runs the script against both servers and compares the
// transcripts.
func runCase(t *testing.T, servers [2]*server, run func(*session)) {
	t.Helper()
	s := runSessions(servers, false, run)
	compareTranscripts(t, s[0], s[1])
}

// runSessions runs the script against both servers: concurrently, or the C
// server first and then the Go server with the C session as its reference.
func runSessions(servers [2]*server, sequential bool, run func(*session)) [2]*session {
	sessions := [2]*session{newSession(servers[0]), newSession(servers[1])}
	if sequential {
		run(sessions[0])
		sessions[1].ref = sessions[0]
		run(sessions[1])
		return sessions
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { run(s) })
	}
	wg.Wait()
	return sessions
}

func compareTranscripts(t *testing.T, c, g *session) {
	t.Helper()
	a, b := c.lines, g.lines
	show := func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n--- C epmd transcript (%s):\n", c.srv.impl.path)
		for _, l := range a {
			fmt.Fprintf(&sb, "    %s\n", clip(l))
		}
		fmt.Fprintf(&sb, "--- chaos-epmd transcript (%s):\n", g.srv.impl.path)
		for _, l := range b {
			fmt.Fprintf(&sb, "    %s\n", clip(l))
		}
		return sb.String()
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb {
			t.Errorf("transcripts differ at step %d:\n    C:  %s\n    Go: %s%s", i+1, la, lb, show())
			return
		}
	}
	if os.Getenv("CONFORMANCE_SHOW") == "1" {
		t.Logf("transcripts agree:%s", show())
	}
}

// clip shortens a transcript line for the full-transcript dump (the first
// difference is always printed in full).
func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + fmt.Sprintf("... (%d more bytes)", len(s)-400)
	}
	return s
}

// session is one server's side of a case: the transcript and the state
// needed to normalise it.
type session struct {
	srv   *server
	lines []string
	cr    creations
	// ref is the C session of a sequential case (nil in the C session);
	// marks are the server's log line counts after each step.
	ref   *session
	marks []int
}

func newSession(srv *server) *session {
	return &session{srv: srv, cr: creations{last: map[string]uint32{}, res: map[string]int{}}}
}

func (s *session) printf(format string, a ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, a...))
}

var (
	ctimeRE = regexp.MustCompile(`epmd: [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)
	fdRE    = regexp.MustCompile(`(fd = |fd=|file descriptor |ALIVE socket |socket )\d+`)
	regRE   = regexp.MustCompile(`registering '([^']*):\d+'`)
	timeRE  = regexp.MustCompile(`time in seconds: \d+`)
	pidRE   = regexp.MustCompile(`MAINPID=\d+`)
	// the "active name" table of -d -d -d: name#creation
	tableRE = regexp.MustCompile(`"([^"]*)#\d+"`)
	// the hex dump (-d -d) of an ALIVE2 reply: 'v'/'y', result 0, creation
	dumpCreationRE = regexp.MustCompile(`(\*\*\*\*\* 00000000  7[69] 00)( [0-9a-f]{2})+ +\|[^|\n]*\|`)
	// a hex dump line of DUMP text: the fd digits are in the hex column too
	dumpFdRE = regexp.MustCompile(`(\*\*\*\*\* [0-9a-f]{8}  )[0-9a-f ]+(\|[^|\n]*fd[^|\n]*\|)`)
)

// norm replaces what legitimately differs between the two servers in text:
// the server's port, ctime stamps, fd numbers, creation numbers in log
// lines, pids.
func (s *session) norm(text string) string {
	text = ctimeRE.ReplaceAllString(text, "epmd: CTIME: ")
	text = dumpFdRE.ReplaceAllString(text, "${1}<hex> ${2}")
	text = fdRE.ReplaceAllString(text, "${1}N")
	text = regRE.ReplaceAllString(text, "registering '${1}:CREATION'")
	text = timeRE.ReplaceAllString(text, "time in seconds: T")
	text = pidRE.ReplaceAllString(text, "MAINPID=PID")
	text = tableRE.ReplaceAllString(text, `"${1}#CREATION"`)
	text = dumpCreationRE.ReplaceAllString(text, "${1} <CREATION>")
	if s.srv.port != 0 {
		// the 4-byte port in a hex dump line (-d -d)
		hex := fmt.Sprintf(`\*\*\*\*\* 00000000  00 00 %02x %02x +\|\.\..{2}\|`, s.srv.port>>8, s.srv.port&0xff)
		text = regexp.MustCompile(hex).ReplaceAllString(text, "***** 00000000  <PORT32>")
		p := strconv.Itoa(s.srv.port)
		text = regexp.MustCompile(`\b`+p+`\b`).ReplaceAllString(text, "{PORT}")
		text = regexp.MustCompile(`\b`+strconv.Itoa(s.srv.port+65536)+`\b`).ReplaceAllString(text, "{PORT+65536}")
	}
	return text
}

// quote renders reply bytes: a leading 4-byte copy of the server's port
// (NAMES, DUMP) becomes <PORT32>, the rest is Go-quoted and normalised.
func (s *session) quote(b []byte) string {
	prefix := ""
	if len(b) >= 4 && s.srv.port != 0 {
		switch binary.BigEndian.Uint32(b) {
		case uint32(s.srv.port):
			prefix, b = "<PORT32>", b[4:]
		case uint32(s.srv.port + 65536):
			prefix, b = "<PORT32+65536>", b[4:]
		}
	}
	return prefix + strconv.Quote(s.norm(string(b)))
}

// ---------------------------------------------------------------------------
// Creation numbers

// creations turns creation numbers into relations that are equal for two
// servers that follow the same rules, tried in this order: "last+1" (a bump
// of this name's previous creation), "now+1" (time of the request plus
// one), "=last(X)" (equal to another name's creation: a reused slot),
// "last+N" and, for HighVsn<6 replies, residues mod 3. Cases keep these
// apart by construction (a counter to be inherited is first pushed far
// from now+1).
type creations struct {
	last  map[string]uint32 // latest full (v6) creation per name
	res   map[string]int    // latest cr_counter%3 per name
	order []string
}

func (c *creations) label(name string, v6 bool, val uint32, t0, t1 int64) string {
	if !v6 {
		if val < 1 || val > 3 {
			return fmt.Sprintf("raw(%d)", val)
		}
		r, known := c.res[name]
		c.res[name] = int(val) - 1
		if !known {
			return "v5:new(1..3)"
		}
		return fmt.Sprintf("v5:last+%d(mod 3)", ((int(val)-1)-r+3)%3)
	}
	defer func() {
		if _, ok := c.last[name]; !ok {
			c.order = append(c.order, name)
		}
		c.last[name] = val
		c.res[name] = int(val % 3)
	}()
	l, known := c.last[name]
	if known && val == l+1 {
		return "last+1"
	}
	if int64(val) >= t0+1 && int64(val) <= t1+1 {
		return "now+1"
	}
	var same []string
	for _, n := range c.order {
		if c.last[n] == val && n != name {
			same = append(same, n)
		}
	}
	switch len(same) {
	case 0:
		if d := int64(val) - int64(l); known && d >= -10 && d <= 10 {
			return fmt.Sprintf("last%+d", d)
		}
		return fmt.Sprintf("raw(%d)", val)
	case 1:
		return "=last(" + same[0] + ")"
	default:
		return "=last(one of several)"
	}
}

// ---------------------------------------------------------------------------
// Connections

// conn is a client connection of a session. A failed dial leaves nc nil and
// every later operation a no-op (the failure is in the transcript).
type conn struct {
	s   *session
	tag string
	nc  net.Conn
}

func (s *session) dial(tag string) *conn {
	return s.dialFrom(tag, "127.0.0.1", nil)
}

// dialFrom connects to host (at the server's port) from the local address
// local (nil: any).
func (s *session) dialFrom(tag, host string, local net.IP) *conn {
	d := net.Dialer{Timeout: replyTimeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	nc, err := d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(s.srv.port)))
	if err != nil {
		s.printf("%s: dial: %s", tag, errClass(err))
		return &conn{s: s, tag: tag}
	}
	return &conn{s: s, tag: tag, nc: nc}
}

func errClass(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

// send writes b. Write errors are not recorded: whether a write to a
// connection the server is closing fails is a matter of timing.
func (c *conn) send(b []byte) {
	if c.nc != nil {
		c.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
		c.nc.Write(b)
	}
}

// closeWrite half-closes the connection (the server reads EOF).
func (c *conn) closeWrite() {
	if c.nc != nil {
		c.nc.(*net.TCPConn).CloseWrite()
	}
}

// reset closes the connection with a TCP RST.
func (c *conn) reset() {
	if c.nc != nil {
		c.nc.(*net.TCPConn).SetLinger(0)
		c.nc.Close()
	}
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

// chunk is the data of one read, with its arrival time.
type chunk struct {
	at   time.Time
	data []byte
}

// readResult is what arrived on a connection and how it ended.
type readResult struct {
	chunks []chunk
	end    string // "closed", "closed after a delay", "open", "no connection"
}

func (r readResult) data() []byte {
	var b []byte
	for _, c := range r.chunks {
		b = append(b, c.data...)
	}
	return b
}

// read waits up to first for data or a close, then after each piece of data
// up to idle for more. A close (EOF or reset) more than lateClose after the
// last event is "closed after a delay" (a timeout, not a drop).
func (c *conn) read(first, idle time.Duration) readResult {
	if c.nc == nil {
		return readResult{end: "no connection"}
	}
	var r readResult
	last := time.Now()
	deadline := last.Add(first)
	buf := make([]byte, 1<<16)
	for {
		c.nc.SetReadDeadline(deadline)
		n, err := c.nc.Read(buf)
		now := time.Now()
		if n > 0 {
			r.chunks = append(r.chunks, chunk{now, append([]byte(nil), buf[:n]...)})
			last = now
			deadline = now.Add(idle)
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r.end = "open"
		} else if now.Sub(last) > lateClose {
			r.end = "closed after a delay"
		} else {
			r.end = "closed"
		}
		return r
	}
}

// reply records everything up to the close: the usual request.
func (c *conn) reply() readResult {
	r := c.read(replyTimeout, replyTimeout)
	c.record(r)
	return r
}

// record writes a read result to the transcript.
func (c *conn) record(r readResult) {
	if d := r.data(); len(d) > 0 {
		c.s.printf("%s: recv %s", c.tag, c.s.quote(d))
	}
	c.s.printf("%s: %s", c.tag, r.end)
}

// recordChunks writes a read result split into separate writes of the
// server (pieces more than chunkGap apart).
func (c *conn) recordChunks(r readResult) {
	var pieces [][]byte
	var prev time.Time
	for _, ch := range r.chunks {
		if len(pieces) == 0 || ch.at.Sub(prev) > chunkGap {
			pieces = append(pieces, nil)
		}
		pieces[len(pieces)-1] = append(pieces[len(pieces)-1], ch.data...)
		prev = ch.at
	}
	for i, p := range pieces {
		c.s.printf("%s: write %d: %s", c.tag, i+1, c.s.quote(p))
	}
	c.s.printf("%s: %s", c.tag, r.end)
}

// request sends one framed request on a new connection and records the
// reply and the close.
func (s *session) request(tag string, frame []byte) readResult {
	c := s.dial(tag)
	defer c.close()
	c.send(frame)
	return c.reply()
}

// ---------------------------------------------------------------------------
// Requests

func u16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// frame prefixes a body with its 16-bit length.
func frame(body ...[]byte) []byte {
	b := cat(body...)
	return cat(u16(len(b)), b)
}

// alive2 is an ALIVE2_REQ. A zero port is sent as 4711 and a zero node
// type as 77 (what epmd_SUITE sends); a zero LowVsn as min(HighVsn, 5).
// Ports are truncated to 16 bits, so 65536 sends port 0.
type alive2 struct {
	port         int
	ntype, proto byte
	hi, lo       int
	name, extra  string
}

func (a alive2) body() []byte {
	if a.port == 0 {
		a.port = 4711
	}
	if a.ntype == 0 {
		a.ntype = 77
	}
	if a.lo == 0 {
		a.lo = min(a.hi, 5)
	}
	return cat([]byte{'x'}, u16(a.port), []byte{a.ntype, a.proto}, u16(a.hi), u16(a.lo),
		u16(len(a.name)), []byte(a.name), u16(len(a.extra)), []byte(a.extra))
}

func (a alive2) frame() []byte { return frame(a.body()) }

// register sends an ALIVE2_REQ on a new connection and records the reply
// (with the creation as a relation) and whether the connection stays open.
func (s *session) register(tag string, a alive2) *conn {
	c := s.dial(tag)
	s.alive2On(c, a.name, a.frame())
	return c
}

// alive2On sends an ALIVE2_REQ frame for name on c and records the reply
// and whether c stays open.
func (s *session) alive2On(c *conn, name string, frame []byte) {
	t0 := clockBefore()
	c.send(frame)
	r := c.read(replyTimeout, openWindow)
	s.recordAlive2(c, name, r, t0, clockAfter())
}

// clockSlack covers the lag of glibc's time(), which reads a coarse clock
// (a few ms behind time.Now()).
const clockSlack = 100 * time.Millisecond

func clockBefore() int64 { return time.Now().Add(-clockSlack).Unix() }
func clockAfter() int64  { return time.Now().Add(clockSlack).Unix() }

func (s *session) recordAlive2(c *conn, name string, r readResult, t0, t1 int64) {
	d := r.data()
	switch {
	case len(d) == 6 && d[0] == 'v' && d[1] == 0:
		s.printf("%s: recv v result=0 creation=%s", c.tag, s.cr.label(name, true, binary.BigEndian.Uint32(d[2:]), t0, t1))
	case len(d) == 4 && d[0] == 'y' && d[1] == 0:
		s.printf("%s: recv y result=0 creation=%s", c.tag, s.cr.label(name, false, uint32(binary.BigEndian.Uint16(d[2:])), t0, t1))
	case len(d) > 0:
		s.printf("%s: recv %s", c.tag, s.quote(d))
	}
	s.printf("%s: %s", c.tag, r.end)
}

func port2(name string) []byte { return frame([]byte{'z'}, []byte(name)) }

var (
	namesReq = frame([]byte{'n'})
	dumpReq  = frame([]byte{'d'})
	killReq  = frame([]byte{'k'})
)

func stopReq(name string) []byte { return frame([]byte{'s'}, []byte(name)) }

// waitUnregistered polls PORT2 until name is unknown (`w 01`).
func (s *session) waitUnregistered(name string) {
	deadline := time.Now().Add(pollTimeout)
	for time.Now().Before(deadline) {
		if s.port2Reply(name) == "w\x01" {
			s.printf("%q: unregistered", name)
			return
		}
		pause(pollInterval)
	}
	s.printf("%q: still registered after %v", name, pollTimeout)
}

// lookup records the PORT2 answer for name.
func (s *session) lookup(name string) {
	s.request("port2 "+strconv.Quote(name), port2(name))
}

// port2Reply is the raw PORT2 answer for name, not recorded.
func (s *session) port2Reply(name string) string {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), replyTimeout)
	if err != nil {
		return "dial: " + errClass(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(replyTimeout))
	nc.Write(port2(name))
	b, _ := io.ReadAll(nc)
	return string(b)
}

// names is the raw NAMES answer, not recorded.
func (s *session) names() []byte { return s.namesWithin(replyTimeout) }

func (s *session) namesWithin(d time.Duration) []byte {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), d)
	if err != nil {
		return nil
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(d))
	nc.Write(namesReq)
	b, _ := io.ReadAll(nc)
	return b
}

// waitNamesCount polls NAMES until it lists n nodes.
func (s *session) waitNamesCount(n int) {
	deadline := time.Now().Add(pollTimeout)
	got := -1
	for time.Now().Before(deadline) {
		if b := s.names(); len(b) >= 4 {
			if got = bytes.Count(b[4:], []byte("\n")); got == n {
				s.printf("names lists %d nodes", n)
				return
			}
		}
		pause(pollInterval)
	}
	s.printf("names lists %d nodes, not %d, after %v", got, n, pollTimeout)
}

// serverState records whether the server process has exited.
func (s *session) serverState(d time.Duration) {
	s.printf("server: %s", s.srv.waitExit(d))
}

// ---------------------------------------------------------------------------
// Command line

// cli runs the implementation's binary with args (the token PORT is the
// session's port) and records exit status, stdout and stderr.
func (s *session) cli(env []string, args ...string) {
	s.printf("%s", s.runCLI(env, args...))
}

// expand replaces the tokens {PORT+65536} and {PORT} with the session's port.
func (s *session) expand(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		w = strings.ReplaceAll(w, "{PORT+65536}", strconv.Itoa(s.srv.port+65536))
		out[i] = strings.ReplaceAll(w, "{PORT}", strconv.Itoa(s.srv.port))
	}
	return out
}

func (s *session) runCLI(env []string, args ...string) string {
	argv, xenv := s.expand(args), s.expand(env)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.srv.impl.path, argv...)
	cmd.Env = epmdEnv(xenv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	status := "exit=0"
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		status = fmt.Sprintf("still running after %v (killed)", cliTimeout)
	case errors.As(err, &ee):
		status = fmt.Sprintf("exit=%d", ee.ExitCode())
	case errors.Is(err, exec.ErrWaitDelay):
		status = "exit=0 but stdout/stderr held open by a child"
	case err != nil:
		status = "error: " + err.Error()
	}
	shown := strings.Join(args, " ")
	if len(shown) > 80 {
		shown = shown[:80] + "..."
	}
	return fmt.Sprintf("cli %s %s: %s stdout=%s stderr=%s", strings.Join(env, " "), shown, status,
		strconv.Quote(s.norm(stdout.String())), strconv.Quote(s.norm(stderr.String())))
}

// ---------------------------------------------------------------------------
// Cases: §1 ALIVE2, §3 registration lifetime and creation (shared strict server)

func requestCases() []conformanceCase {
	reg := func(tag string, a alive2) conformanceCase {
		return conformanceCase{name: tag, run: func(s *session) { s.register(tag, a).close() }}
	}
	cases := []conformanceCase{
		reg("alive2_v5_reply_y", alive2{name: "v5a", hi: 5}),
		reg("alive2_v6_reply_v", alive2{name: "v6a", hi: 6, lo: 6}),
		reg("alive2_v7_reply_v", alive2{name: "v7a", hi: 7, lo: 5}),
		reg("alive2_v0_reply_y", alive2{name: "v0a", hi: 0}),
		reg("alive2_v65535_reply_v", alive2{name: "vmax", hi: 65535, lo: 1}),
		reg("alive2_lowvsn_above_highvsn", alive2{name: "lohi", hi: 5, lo: 9}),
		reg("alive2_name_with_space_at_newline", alive2{name: "a b@c\nd", hi: 6}),
		reg("alive2_name_255_ascii", alive2{name: "n255" + strings.Repeat("a", 251), hi: 6}),
		reg("alive2_name_256_ascii_error", alive2{name: "n256" + strings.Repeat("a", 252), hi: 6}),
		reg("alive2_name_256_ascii_error_v5", alive2{name: "m256" + strings.Repeat("a", 252), hi: 5}),
		reg("alive2_name_255_chars_1020_bytes", alive2{name: strings.Repeat("\U0001F600", 254) + "\U0001F601", hi: 6}),
		reg("alive2_name_255_chars_765_bytes", alive2{name: strings.Repeat("\u20ac", 254) + "\u20ad", hi: 6}),
		reg("alive2_name_256_chars_1024_bytes_error", alive2{name: strings.Repeat("\U0001F602", 256), hi: 6}),
		reg("alive2_name_1021_bytes_error", alive2{name: strings.Repeat("\U0001F603", 255) + "b", hi: 6}),
		reg("alive2_extra_1020", alive2{name: "extra1020", hi: 6, extra: strings.Repeat("e", 1020)}),
		reg("alive2_extra_1021_error", alive2{name: "extra1021", hi: 6, extra: strings.Repeat("e", 1021)}),
		reg("alive2_fields_not_validated", alive2{name: "fields", port: 65535, ntype: 0xff, proto: 0x7f, hi: 6, lo: 6}),
		reg("alive2_port_zero", alive2{name: "portzero", port: 65536, hi: 6}),
		{name: "alive2_port2_echoes_all_fields", run: func(s *session) {
			c := s.register("reg", alive2{name: "echo", port: 0x1234, ntype: 72, proto: 1, hi: 6, lo: 5, extra: "\x00x\x00\xff"})
			s.lookup("echo")
			c.close()
		}},
		{name: "alive2_nul_inside_name_dropped", run: func(s *session) {
			s.register("reg", alive2{name: "foo\x00bar", hi: 6}).close()
			s.lookup("foo")
		}},
		{name: "alive2_nul_terminated_name_dropped", run: func(s *session) {
			s.register("reg", alive2{name: "nulterm\x00", hi: 5}).close()
			s.lookup("nulterm")
		}},
		{name: "alive2_trailing_bytes_ignored", run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "trail", frame(alive2{name: "trail", hi: 6}.body(), []byte("junk after extra")))
			s.lookup("trail")
			c.close()
		}},
		{name: "alive2_body_1_byte_dropped", run: func(s *session) { s.request("x", frame([]byte{'x'})) }},
		{name: "alive2_body_13_bytes_dropped", run: func(s *session) {
			// Nlen=0, Elen=0, no padding: bsize == 13.
			s.request("x13", frame(alive2{name: "", hi: 6}.body()))
		}},
		{name: "alive2_body_12_bytes_dropped", run: func(s *session) {
			s.request("x12", frame(alive2{name: "", hi: 6}.body()[:12]))
		}},
		{name: "alive2_nlen_beyond_packet_dropped", run: func(s *session) {
			b := alive2{name: "nlenbig", hi: 6}.body()
			binary.BigEndian.PutUint16(b[9:], 50)
			s.request("x", frame(b))
			s.lookup("nlenbig")
		}},
		{name: "alive2_elen_beyond_packet_dropped", run: func(s *session) {
			b := alive2{name: "elenbig", hi: 6, extra: "ab"}.body()
			binary.BigEndian.PutUint16(b[11+7:], 10)
			s.request("x", frame(b))
			s.lookup("elenbig")
		}},
		{name: "alive2_missing_elen_dropped", run: func(s *session) {
			b := alive2{name: "noelen", hi: 6}.body()
			s.request("x", frame(b[:len(b)-2]))
			s.lookup("noelen")
		}},
		{name: "alive2_missing_one_elen_byte_dropped", run: func(s *session) {
			b := alive2{name: "halfelen", hi: 6}.body()
			s.request("x", frame(b[:len(b)-1]))
			s.lookup("halfelen")
		}},
		{name: "alive2_duplicate_v6", run: func(s *session) {
			first := s.register("first", alive2{name: "dup6", hi: 6, port: 1111})
			second := s.register("second", alive2{name: "dup6", hi: 6, port: 2222})
			s.lookup("dup6")
			second.close()
			first.close()
		}},
		{name: "alive2_duplicate_v5", run: func(s *session) {
			first := s.register("first", alive2{name: "dup5", hi: 5, port: 1111})
			second := s.register("second", alive2{name: "dup5", hi: 5, port: 2222})
			s.lookup("dup5")
			second.close()
			first.close()
		}},
		{name: "alive2_names_are_case_sensitive", run: func(s *session) {
			a := s.register("upper", alive2{name: "Case", hi: 6, port: 1})
			b := s.register("lower", alive2{name: "case", hi: 6, port: 2})
			s.lookup("Case")
			s.lookup("case")
			s.lookup("CASE")
			a.close()
			b.close()
		}},
		{name: "creation_v6_bumps_on_reregistration", run: func(s *session) {
			for i := range 3 {
				c := s.register(fmt.Sprintf("reg%d", i+1), alive2{name: "bump6", hi: 6})
				c.close()
				s.waitUnregistered("bump6")
			}
		}},
		{name: "creation_v5_cycles_1_to_3", run: func(s *session) {
			for i := range 4 {
				c := s.register(fmt.Sprintf("reg%d", i+1), alive2{name: "bump5", hi: 5})
				c.close()
				s.waitUnregistered("bump5")
			}
		}},
		{name: "creation_view_follows_each_requests_highvsn", run: func(s *session) {
			for i, hi := range []int{6, 5, 6, 5, 7, 0} {
				c := s.register(fmt.Sprintf("reg%d_v%d", i+1, hi), alive2{name: "mixed", hi: hi, lo: min(hi, 5)})
				c.close()
				s.waitUnregistered("mixed")
			}
		}},
		{name: "registration_lives_as_long_as_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "life", hi: 6})
			s.lookup("life")
			c.close()
			s.waitUnregistered("life")
		}},
		{name: "registration_has_no_idle_timeout", run: func(s *session) {
			c := s.register("reg", alive2{name: "noidle", hi: 6})
			c.record(c.read(beyondTimeout, beyondTimeout))
			s.lookup("noidle")
			c.close()
		}},
		{name: "registration_any_byte_unregisters_and_closes", run: func(s *session) {
			c := s.register("reg", alive2{name: "anybyte", hi: 6})
			c.send([]byte{0})
			c.reply()
			s.waitUnregistered("anybyte")
		}},
		{name: "registration_second_alive2_on_same_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "twice", hi: 6})
			c.send(alive2{name: "twice2", hi: 6}.frame())
			c.reply()
			s.waitUnregistered("twice")
			s.lookup("twice2")
		}},
		{name: "registration_half_close_unregisters", run: func(s *session) {
			c := s.register("reg", alive2{name: "halfclose", hi: 6})
			c.closeWrite()
			c.reply()
			s.waitUnregistered("halfclose")
		}},
		{name: "failed_alive2_keeps_connection_open", run: func(s *session) {
			first := s.register("first", alive2{name: "keepdup", hi: 6})
			second := s.register("second", alive2{name: "keepdup", hi: 6, port: 9})
			second.record(second.read(beyondTimeout, beyondTimeout))
			second.send([]byte("?"))
			second.reply()
			s.lookup("keepdup") // the original holder is untouched
			first.close()
		}},
		{name: "failed_alive2_invalid_name_keeps_connection_open", run: func(s *session) {
			c := s.register("reg", alive2{name: "bad\xff", hi: 5})
			c.record(c.read(beyondTimeout, beyondTimeout))
			c.close()
		}},
		{name: "failed_alive2_then_valid_alive2_on_same_connection", run: func(s *session) {
			c := s.register("reg", alive2{name: "bad\xc0\x80", hi: 6})
			c.send(alive2{name: "afterfail", hi: 6}.frame())
			c.reply()
			s.lookup("afterfail")
		}},
	}
	for i, u := range utf8Classes {
		cases = append(cases, conformanceCase{
			name: "alive2_utf8_" + u.name,
			run: func(s *session) {
				name := fmt.Sprintf("u%d-", i) + u.bytes
				c := s.register("reg", alive2{name: name, hi: 6})
				if u.valid {
					s.lookup(name)
				}
				c.close()
			},
		})
	}
	return cases
}

// utf8Classes are the byte sequences verify_utf8 (epmd_srv.c:140-196)
// accepts or rejects.
var utf8Classes = []struct {
	name  string
	bytes string
	valid bool
}{
	{"valid_2byte_min", "\xc2\x80", true},
	{"valid_3byte_min", "\xe0\xa0\x80", true},
	{"valid_before_surrogates", "\xed\x9f\xbf", true},
	{"valid_after_surrogates", "\xee\x80\x80", true},
	{"valid_4byte_min", "\xf0\x90\x80\x80", true},
	{"valid_max_10ffff", "\xf4\x8f\xbf\xbf", true},
	{"stray_continuation", "\x80", false},
	{"stray_continuation_bf", "a\xbfb", false},
	{"overlong_2byte_c0", "\xc0\x80", false},
	{"overlong_2byte_c1", "\xc1\xbf", false},
	{"overlong_3byte", "\xe0\x80\x80", false},
	{"overlong_3byte_9f", "\xe0\x9f\xbf", false},
	{"surrogate_low", "\xed\xa0\x80", false},
	{"surrogate_high", "\xed\xbf\xbf", false},
	{"overlong_4byte", "\xf0\x80\x80\x80", false},
	{"overlong_4byte_8f", "\xf0\x8f\xbf\xbf", false},
	{"above_10ffff", "\xf4\x90\x80\x80", false},
	{"lead_f5", "\xf5\x80\x80\x80", false},
	{"lead_f7", "\xf7\xbf\xbf\xbf", false},
	{"lead_f8_5byte", "\xf8\x88\x80\x80\x80", false},
	{"lead_fe", "\xfe", false},
	{"lead_ff", "\xff", false},
	{"truncated_2byte", "a\xc3", false},
	{"truncated_3byte", "\xe2\x82", false},
	{"truncated_4byte", "\xf0\x9f\x98", false},
	{"bad_continuation_2byte", "\xc3\x28", false},
	{"bad_continuation_3byte", "\xe2\x28\xa1", false},
	{"bad_continuation_4byte", "\xf0\x9f\x28\x80", false},
}

// ---------------------------------------------------------------------------
// Cases: §1 PORT_PLEASE2 (shared strict server)

func port2Cases() []conformanceCase {
	regThen := func(name string, lookups ...string) func(s *session) {
		return func(s *session) {
			c := s.register("reg", alive2{name: name, hi: 6, extra: "xyz"})
			for _, l := range lookups {
				s.lookup(l)
			}
			c.close()
		}
	}
	raw := func(tag string, body []byte) func(s *session) {
		return func(s *session) { s.request(tag, frame(body)) }
	}
	n254 := "p254" + strings.Repeat("b", 250)
	n255 := "p255" + strings.Repeat("b", 251)
	return []conformanceCase{
		{name: "port2_found", run: regThen("p2found", "p2found")},
		{name: "port2_trailing_nul_stripped", run: regThen("p2nul", "p2nul\x00")},
		{name: "port2_two_trailing_nuls_dropped", run: regThen("p2nul2", "p2nul2\x00\x00")},
		{name: "port2_nul_inside_dropped", run: regThen("p2in", "p2\x00in")},
		{name: "port2_unknown_w01", run: func(s *session) { s.lookup("nosuchnode") }},
		{name: "port2_unknown_case_differs_w01", run: regThen("P2Case", "p2case")},
		{name: "port2_prefix_is_not_a_match", run: regThen("p2prefix", "p2pre", "p2prefixx")},
		{name: "port2_empty_dropped", run: raw("z", []byte{'z'})},
		{name: "port2_only_nul_dropped", run: raw("z0", []byte{'z', 0})},
		{name: "port2_254_chars_found", run: regThen(n254, n254, n254+"\x00")},
		{name: "port2_255_chars_registered_but_dropped", run: regThen(n255, n255, n255+"\x00")},
		{name: "port2_255_chars_unknown_dropped", run: func(s *session) { s.lookup("q255" + strings.Repeat("c", 251)) }},
		{name: "port2_254_chars_unknown_w01", run: func(s *session) { s.lookup("q254" + strings.Repeat("c", 250)) }},
		{name: "port2_254_2byte_chars_found", run: regThen(strings.Repeat("\u00e9", 254), strings.Repeat("\u00e9", 254))},
		{name: "port2_254_4byte_chars_found", run: regThen(strings.Repeat("\U0001F604", 254), strings.Repeat("\U0001F604", 254))},
		{name: "port2_1000_bytes_dropped", run: func(s *session) { s.lookup(strings.Repeat("d", 1000)) }},
		{name: "port2_invalid_utf8_dropped", run: func(s *session) {
			for _, u := range utf8Classes {
				if !u.valid {
					s.lookup("p2" + u.bytes)
				}
			}
		}},
		{name: "port2_valid_utf8_unknown_w01", run: func(s *session) {
			for _, u := range utf8Classes {
				if u.valid {
					s.lookup("p2" + u.bytes)
				}
			}
		}},
		{name: "port2_extra_1020_and_nuls_returned", run: func(s *session) {
			c := s.register("reg", alive2{name: "p2extra", hi: 6, extra: strings.Repeat("\x00e", 510)})
			s.lookup("p2extra")
			c.close()
		}},
		{name: "port2_after_unregister_w01", run: func(s *session) {
			c := s.register("reg", alive2{name: "p2gone", hi: 6})
			c.close()
			s.waitUnregistered("p2gone")
			s.lookup("p2gone")
		}},
	}
}

// ---------------------------------------------------------------------------
// Cases: §1 garbage, NAMES with junk, §2 framing and timeouts (a shared
// strict server on which nothing is ever registered)

func quietCases() []conformanceCase {
	send := func(tag string, b []byte) func(s *session) {
		return func(s *session) { s.request(tag, b) }
	}
	// timed: the request is incomplete; the server must close it after
	// packet_timeout, not at once and not never.
	timed := func(b []byte) func(s *session) {
		return func(s *session) {
			c := s.dial("conn")
			c.send(b)
			c.record(c.read(idleCloseLimit, idleCloseLimit))
			c.close()
		}
	}
	return []conformanceCase{
		{name: "names_empty_registry", run: send("names", namesReq)},
		{name: "names_bytes_after_n_ignored", run: send("names", frame([]byte("n\x00junk\xff")))},
		{name: "len_0_dropped", run: send("len0", []byte{0, 0})},
		{name: "len_0_with_bytes_dropped", run: send("len0", []byte{0, 0, 'n'})},
		{name: "len_3057_answered", run: send("len3057", frame([]byte{'n'}, make([]byte, 3056)))},
		{name: "len_3058_dropped", run: send("len3058", frame([]byte{'n'}, make([]byte, 3057)))},
		{name: "len_3058_header_only_dropped", run: send("len3058", u16(3058))},
		{name: "len_65535_header_only_dropped", run: send("lenffff", []byte{0xff, 0xff})},
		{name: "surplus_byte_dropped", run: send("surplus", []byte{0, 1, 'n', 0})},
		{name: "surplus_after_port2_dropped", run: send("surplus", cat(port2("nosuch"), []byte{0}))},
		{name: "pipelined_names_dropped", run: send("pipelined", cat(namesReq, namesReq))},
		{name: "pipelined_alive2_and_names_dropped", run: func(s *session) {
			s.request("pipelined", cat(alive2{name: "pipe", hi: 6}.frame(), namesReq))
			s.lookup("pipe")
		}},
		{name: "no_data_closed_after_timeout", run: timed(nil)},
		{name: "one_byte_closed_after_timeout", run: timed([]byte{0})},
		{name: "two_bytes_closed_after_timeout", run: timed([]byte{0, 5})},
		{name: "partial_body_closed_after_timeout", run: timed([]byte{0, 5, 'n', 0})},
		{name: "partial_packet_then_eof_closed", run: func(s *session) {
			c := s.dial("conn")
			c.send([]byte{0, 5, 'z', 'a'})
			c.closeWrite()
			c.reply()
		}},
		{name: "trickled_packet_is_answered", run: func(s *session) {
			// Each byte refreshes the idle timer: 5 bytes 600 ms apart
			// take longer than packet_timeout 1 but are answered.
			c := s.dial("conn")
			for i, b := range cat(u16(3), []byte("n\x00\x00")) {
				if i > 0 {
					pause(600 * time.Millisecond)
				}
				c.send([]byte{b})
			}
			c.reply()
			c.close()
		}},
		{name: "header_split_from_body_answered", run: func(s *session) {
			c := s.dial("conn")
			c.send([]byte{0})
			pause(100 * time.Millisecond)
			c.send([]byte{1})
			pause(100 * time.Millisecond)
			c.send([]byte{'n'})
			c.reply()
			c.close()
		}},
		{name: "garbage_codes_dropped", run: func(s *session) {
			for code := range 256 {
				if strings.IndexByte("xznkds", byte(code)) >= 0 {
					continue
				}
				s.request(fmt.Sprintf("code %#02x", code), frame([]byte{byte(code)}))
			}
		}},
		{name: "garbage_code_with_body_dropped", run: send("garbage", frame([]byte("Xhello")))},
		{name: "obsolete_alive_req_a_dropped", run: send("a", frame([]byte{'a'}, u16(4711), []byte("oldnode")))},
		{name: "obsolete_port_please_req_p_dropped", run: send("p", frame([]byte("poldnode")))},
		{name: "reply_codes_as_requests_dropped", run: func(s *session) {
			s.request("y", frame([]byte{'y', 0, 0, 1}))
			s.request("v", frame([]byte{'v', 0, 0, 0, 0, 1}))
			s.request("w", frame([]byte{'w', 1}))
		}},
		{name: "ipv6_loopback_names", skip: noIPv6, run: func(s *session) {
			c := s.dialFrom("names6", "::1", nil)
			c.send(namesReq)
			c.reply()
			c.close()
		}},
	}
}

func noIPv6() string {
	if !hasIPv6Loopback() {
		return "no IPv6 loopback on this host"
	}
	return ""
}

// ---------------------------------------------------------------------------
// Cases: §1 STOP

func stopStrictCases() []conformanceCase {
	return []conformanceCase{
		{name: "stop_without_relaxed_dropped", run: func(s *session) {
			c := s.register("reg", alive2{name: "nostop", hi: 6})
			s.request("stop", stopReq("nostop"))
			s.lookup("nostop")
			c.close()
		}},
		{name: "stop_unknown_without_relaxed_dropped", run: func(s *session) { s.request("stop", stopReq("nosuch")) }},
		{name: "stop_empty_without_relaxed_dropped", run: func(s *session) { s.request("stop", frame([]byte{'s'})) }},
	}
}

func stopRelaxedCases() []conformanceCase {
	return []conformanceCase{
		{name: "stop_registered_stopped", run: func(s *session) {
			c := s.register("reg", alive2{name: "tostop", hi: 6})
			s.request("stop", stopReq("tostop"))
			c.reply() // epmd closes the node's registration connection
			s.lookup("tostop")
		}},
		{name: "stop_unknown_noexiststopped", run: func(s *session) { s.request("stop", stopReq("nosuchnode")) }},
		{name: "stop_empty_dropped", run: func(s *session) { s.request("stop", frame([]byte{'s'})) }},
		{name: "stop_nul_terminated_name", run: func(s *session) {
			c := s.register("reg", alive2{name: "stopnul", hi: 6})
			s.request("stop", stopReq("stopnul\x00"))
			c.reply()
		}},
		{name: "stop_name_cut_at_nul", run: func(s *session) {
			c := s.register("reg", alive2{name: "stopcut", hi: 6})
			s.request("stop", stopReq("stopcut\x00tail"))
			c.reply()
		}},
		{name: "stop_invalid_utf8_noexist", run: func(s *session) { s.request("stop", stopReq("\xff\xfe")) }},
		{name: "stop_long_name_noexist", run: func(s *session) { s.request("stop", stopReq(strings.Repeat("s", 3000))) }},
		{name: "stop_case_differs_noexist", run: func(s *session) {
			c := s.register("reg", alive2{name: "StopCase", hi: 6})
			s.request("stop", stopReq("stopcase"))
			s.lookup("StopCase")
			c.close()
		}},
		{name: "stop_then_reregister_bumps_creation", run: func(s *session) {
			c := s.register("reg1", alive2{name: "stopbump", hi: 6})
			s.request("stop", stopReq("stopbump"))
			c.reply()
			s.register("reg2", alive2{name: "stopbump", hi: 6}).close()
		}},
		{name: "stop_twice", run: func(s *session) {
			c := s.register("reg", alive2{name: "stop2x", hi: 6})
			s.request("stop1", stopReq("stop2x"))
			s.request("stop2", stopReq("stop2x"))
			c.reply()
		}},
	}
}

// ---------------------------------------------------------------------------
// Cases that need a server of their own: NAMES/DUMP contents, KILL,
// creation memory, connection limit, default timeout

func freshCases() []conformanceCase {
	debug := serverSpec{args: []string{"-d", "-packet_timeout", "1", "-address", "127.0.0.1"}}
	noTimeout := serverSpec{args: []string{"-address", "127.0.0.1"}}
	timeout3 := serverSpec{args: []string{"-packet_timeout", "3", "-address", "127.0.0.1"}}
	return []conformanceCase{
		{name: "names_newest_first", run: func(s *session) {
			var cs []*conn
			for i, n := range []string{"alpha", "beta", "gamma"} {
				cs = append(cs, s.register(n, alive2{name: n, port: 4711 + i, hi: 6}))
			}
			s.request("names", namesReq)
			cs[1].close()
			s.waitUnregistered("beta")
			s.request("names", namesReq)
			cs = append(cs, s.register("beta again", alive2{name: "beta", port: 5000, hi: 5}))
			s.request("names", namesReq)
			for _, c := range cs {
				c.close()
			}
		}},
		{name: "names_raw_name_bytes", run: func(s *session) {
			a := s.register("reg1", alive2{name: "x\ny", hi: 6})
			b := s.register("reg2", alive2{name: "sp ace@h\u00e9", hi: 6, port: 65535})
			c := s.register("reg3", alive2{name: "port0", hi: 6, port: 65536})
			s.request("names", namesReq)
			a.close()
			b.close()
			c.close()
		}},
		{name: "names_excludes_failed_registrations", run: func(s *session) {
			a := s.register("reg", alive2{name: "only", hi: 6})
			b := s.register("dup", alive2{name: "only", hi: 6})
			s.request("names", namesReq)
			a.close()
			b.close()
		}},
		{name: "empty_name_with_padding_registers", run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "", frame(alive2{name: "", hi: 6}.body(), []byte{0}))
			s.request("names", namesReq)
			s.request("port2 empty", frame([]byte{'z'}))
			s.request("dump", dumpReq)
			c2 := s.dial("dup")
			s.alive2On(c2, "", frame(alive2{name: "", hi: 6}.body(), []byte("pad")))
			c.close()
			c2.close()
		}},
		{name: "empty_name_stop_relaxed", server: &relaxed, run: func(s *session) {
			c := s.dial("reg")
			s.alive2On(c, "", frame(alive2{name: "", hi: 6}.body(), []byte{0}))
			s.request("stop empty", stopReq("\x00"))
			c.reply()
			s.request("names", namesReq)
		}},
		{name: "dump_format", run: func(s *session) {
			gone := s.register("gone", alive2{name: "gone", hi: 6, port: 3000})
			gone.close()
			s.waitUnregistered("gone")
			a := s.register("a", alive2{name: "dumpa", hi: 6, port: 3001})
			b := s.register("b", alive2{name: "dumpb", hi: 5, port: 3002})
			s.request("dump", dumpReq)
			a.close()
			b.close()
		}},
		{name: "dump_unregistered_oldest_first", run: func(s *session) {
			for _, n := range []string{"old1", "old2", "old3"} {
				s.register(n, alive2{name: n, hi: 6}).close()
				s.waitUnregistered(n)
			}
			s.register("old2 again", alive2{name: "old2", hi: 6}).close()
			s.waitUnregistered("old2")
			s.request("dump", dumpReq)
			s.request("dump with junk", frame([]byte("d\x00junk")))
		}},
		{name: "kill_no_nodes_ok_and_exit_0", run: func(s *session) {
			s.request("kill", killReq)
			s.serverState(replyTimeout)
		}},
		{name: "kill_with_junk_ok", run: func(s *session) {
			s.request("kill", frame([]byte("k\x00junk")))
			s.serverState(replyTimeout)
		}},
		{name: "kill_with_live_node_no", run: func(s *session) {
			c := s.register("reg", alive2{name: "alive", hi: 6})
			s.request("kill", killReq)
			s.request("names", namesReq)
			c.close()
			s.waitUnregistered("alive")
			s.request("kill after unregister", killReq)
			s.serverState(replyTimeout)
		}},
		{name: "kill_relaxed_with_live_node_ok", server: &relaxed, run: func(s *session) {
			c := s.register("reg", alive2{name: "alive", hi: 6})
			s.request("kill", killReq)
			s.serverState(replyTimeout)
			c.reply()
		}},
		{name: "kill_with_failed_registration_only_ok", run: func(s *session) {
			// A failed ALIVE2 keeps its connection but registers nothing.
			c := s.register("reg", alive2{name: "bad\xff", hi: 6})
			s.request("kill", killReq)
			s.serverState(replyTimeout)
			c.close()
		}},
		{name: "creation_memory_5_with_debug", server: &debug, run: func(s *session) {
			// a1 is remembered with a counter 10 above its first
			// registration's (far from now+1); a2..a6 fill the memory of 5
			// (count 6 > 5); a new name then takes a1's slot and its counter
			// without a bump, and a1 is new again.
			for i := range 10 {
				s.register(fmt.Sprintf("a1 #%d", i+1), alive2{name: "a1", hi: 6}).close()
				s.waitUnregistered("a1")
			}
			for i := 2; i <= 6; i++ {
				n := fmt.Sprintf("a%d", i)
				s.register(n, alive2{name: n, hi: 6}).close()
				s.waitUnregistered(n)
			}
			b := s.register("b takes a1's slot", alive2{name: "b", hi: 6})
			a1 := s.register("a1 is new again", alive2{name: "a1", hi: 6})
			b.close()
			s.waitUnregistered("b")
			a1.close()
			s.waitUnregistered("a1")
			s.request("dump", dumpReq)
		}},
		{name: "creation_memory_1000", run: func(s *session) {
			// 1000 remembered names fill the memory exactly: a new name
			// still gets a fresh counter. One more, and the next new name
			// takes the oldest slot.
			const n = 1000
			conns := registerMany(s, "m", n)
			for _, c := range conns {
				c.close()
			}
			s.waitNamesCount(0)
			waitNextSecond() // a fresh counter now differs from the old ones
			s.register("new1", alive2{name: "new1", hi: 6}).close()
			s.waitUnregistered("new1")
			// new2's counter is inherited from a name registered before
			// the clock moved on, so it is older than now+1.
			c := s.dial("new2")
			t0 := clockBefore()
			c.send(alive2{name: "new2", hi: 6}.frame())
			r := c.read(replyTimeout, openWindow)
			if d := r.data(); len(d) == 6 && d[0] == 'v' && d[1] == 0 {
				s.printf("new2: creation older than now+1: %v", int64(binary.BigEndian.Uint32(d[2:])) < t0+1)
			} else {
				c.record(r)
			}
			c.close()
		}},
		{name: "connection_limit", run: func(s *session) {
			conns := registerMany(s, "lim", 1100)
			s.request("names when full", namesReq)
			for _, c := range conns {
				c.close()
			}
			s.waitNamesCount(0)
			s.request("names after", frame([]byte{'n'}))
		}, deviation: func(t *testing.T, c, chaos []string) {
			// README, known deviations: the C epmd's table ends near
			// FD_SETSIZE (accept-and-close beyond, NAMES too); chaos-epmd's
			// only bound is the descriptor limit.
			wantLines(t, "C epmd", c, "registered 101", "names when full: closed")
			wantLines(t, "chaos-epmd", chaos, "registered 1100 of 1100",
				`names when full: recv <PORT32>"name lim1099 at port 4711\n`)
		}},
		{name: "trickle_1s_gaps_answered", run: func(s *session) {
			// epmd_SUITE slow_get_port_nr: the rest of the request comes
			// in bytes 1 s apart. The C epmd checks idleness at whole
			// seconds on its 1 s select() wake-ups (mod_time + 1 < now), so
			// on an idle server a connection lives 2 s after its last read.
			c := s.dial("conn")
			c.send([]byte{0, 4, 'n'})
			for _, b := range []byte("abc") {
				pause(time.Second)
				c.send([]byte{b})
			}
			c.reply()
			c.close()
		}},
		{name: "packet_timeout_1_idle_close_time", run: func(s *session) { s.idleCloseTime() }},
		{name: "packet_timeout_3_idle_close_time", server: &timeout3, run: func(s *session) { s.idleCloseTime() }},
		{name: "default_packet_timeout_is_60s", server: &noTimeout, run: func(s *session) {
			c := s.dial("idle")
			c.record(c.read(beyondTimeout, beyondTimeout))
			c.send(namesReq)
			c.reply()
			c.close()
		}},
	}
}

// idleCloseTime records after how many whole seconds (rounded) an idle
// connection that sent one byte is closed (on a server with no other
// activity: C closes it at its first select() wake-up after mod_time + N,
// N+1 s after the read).
func (s *session) idleCloseTime() {
	c := s.dial("idle")
	c.send([]byte{0})
	start := time.Now()
	r := c.read(idleCloseLimit+2*time.Second, time.Second)
	// Whole seconds, rounded down: load only ever adds time.
	s.printf("idle: %s after %d s", r.end, int(time.Since(start).Seconds()))
	c.close()
}

// registerMany registers prefix0..prefixN-1 (v6), records how many were
// accepted and how the others ended, and returns the connections.
func registerMany(s *session, prefix string, n int) []*conn {
	var conns []*conn
	ok, other := 0, map[string]int{}
	for i := range n {
		nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), replyTimeout)
		if err != nil {
			other["dial: "+errClass(err)]++
			continue
		}
		c := &conn{s: s, tag: "many", nc: nc}
		conns = append(conns, c)
		c.send(alive2{name: fmt.Sprintf("%s%d", prefix, i), hi: 6}.frame())
		nc.SetReadDeadline(time.Now().Add(replyTimeout))
		buf := make([]byte, 6)
		if _, err := io.ReadFull(nc, buf); err != nil {
			// EOF or reset: accept-then-close; which one is timing.
			other["closed without reply"]++
			continue
		}
		if buf[0] == 'v' && buf[1] == 0 {
			ok++
		} else {
			other[fmt.Sprintf("reply %q", buf[:2])]++
		}
	}
	keys := make([]string, 0, len(other))
	for k := range other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, ", %s: %d", k, other[k])
	}
	s.printf("registered %d of %d%s", ok, n, sb.String())
	return conns
}

// waitNextSecond returns once the Unix time has moved to the next second,
// also as the server's coarse time() sees it.
func waitNextSecond() {
	start := time.Now().Unix()
	for clockBefore() <= start {
		pause(pollInterval)
	}
}

// ---------------------------------------------------------------------------
// Cases: -delay_write, -delay_accept (§2)

func delayCases() []conformanceCase {
	dw := serverSpec{args: []string{"-packet_timeout", "1", "-address", "127.0.0.1", "-delay_write", "1", "-relaxed_command_check"}}
	// -d: "** got ALIVE2_REQ" on stderr tells when the request was read
	dwd := serverSpec{args: []string{"-d", "-packet_timeout", "1", "-address", "127.0.0.1", "-delay_write", "1", "-relaxed_command_check"}}
	da := serverSpec{args: []string{"-packet_timeout", "1", "-address", "127.0.0.1", "-delay_accept", "1"}}
	return []conformanceCase{
		{name: "delay_write_names_sleeps_per_line", server: &dw, run: func(s *session) {
			a := s.register("reg a", alive2{name: "dwa", hi: 6})
			b := s.register("reg b", alive2{name: "dwb", hi: 6})
			c := s.dial("names")
			c.send(namesReq)
			c.recordChunks(c.read(replyTimeout, 2*time.Second))
			c.close()
			a.close()
			b.close()
		}},
		{name: "delay_write_stop_noexist_sleeps_twice", server: &dw, run: func(s *session) {
			c := s.dial("stop")
			c.send(stopReq("nosuch"))
			c.recordChunks(c.read(replyTimeout, 2*time.Second))
			c.close()
		}},
		{name: "delay_write_alive2_one_write", server: &dw, run: func(s *session) {
			c := s.dial("reg")
			c.send(alive2{name: "dwreg", hi: 5}.frame())
			r := c.read(replyTimeout, openWindow)
			s.printf("reg: %d write(s), %d bytes, %s", len(r.chunks), len(r.data()), r.end)
			c.close()
		}},
		{name: "reset_before_alive2_reply_unregisters", server: &dwd, run: func(s *session) {
			// epmd_SUITE socket_reset_before_alive2_reply_is_written: the
			// client resets while the server sleeps before its reply; the
			// reply write fails, so the node is unregistered again.
			c := s.dial("reg")
			c.send(alive2{name: "rst", hi: 6}.frame())
			s.waitStderr("** got ALIVE2_REQ", 1)
			c.reset()
			s.waitUnregistered("rst")
		}},
		{name: "reset_before_duplicate_reply_unregisters_original", server: &dwd, run: func(s *session) {
			// C quirk (behaviour §1 ALIVE2): the failed reply to a
			// duplicate unregisters the original holder of the name.
			orig := s.register("original", alive2{name: "rstdup", hi: 6})
			c := s.dial("duplicate")
			c.send(alive2{name: "rstdup", hi: 6, port: 9}.frame())
			s.waitStderr("** got ALIVE2_REQ", 2)
			c.reset()
			s.waitUnregistered("rstdup")
			orig.record(orig.read(openWindow, openWindow))
			orig.close()
		}, deviation: func(t *testing.T, c, chaos []string) {
			// README, known deviations: a reset duplicate must not remove
			// the original registration (any client could unregister any
			// node); only the request's own registration is undone.
			wantLines(t, "C epmd", c, "original: recv v result=0", "original: open", `"rstdup": unregistered`)
			wantLines(t, "chaos-epmd", chaos, "original: recv v result=0", "original: open", `"rstdup": still registered`)
		}},
		{name: "delay_accept_still_answers", server: &da, run: func(s *session) {
			start := time.Now()
			s.request("names", namesReq)
			slow := time.Since(start) >= 900*time.Millisecond
			s.printf("took at least 1 s: %v", slow)
		}},
	}
}

// ---------------------------------------------------------------------------
// Cases: §7 command line, §8 client environment

func cliCases() []conformanceCase {
	down := serverSpec{none: true}
	return []conformanceCase{
		{name: "names", run: func(s *session) {
			a := s.register("reg", alive2{name: "foobar", hi: 5})
			b := s.register("reg", alive2{name: "x\u00e9", hi: 6, port: 4712})
			s.cli(nil, "-port", "{PORT}", "-names")
			s.cli(nil, "-packet_timeout", "1", "-port", "{PORT}", "-names")
			s.cli(nil, "-d", "-relaxed_command_check", "-delay_write", "1", "-address", "127.0.0.9", "-port", "{PORT}", "-names")
			s.cli([]string{"ERL_EPMD_PORT={PORT}"}, "-names")
			s.cli([]string{"ERL_EPMD_PORT={PORT}junk"}, "-names")
			s.cli([]string{"ERL_EPMD_PORT=1"}, "-port", "{PORT}", "-names")
			s.cli(nil, "-port", "{PORT+65536}", "-names")
			a.close()
			b.close()
		}},
		{name: "names_empty", run: func(s *session) { s.cli(nil, "-port", "{PORT}", "-names") }},
		{name: "dump", run: func(s *session) {
			s.register("gone", alive2{name: "gone", hi: 6}).close()
			s.waitUnregistered("gone")
			a := s.register("reg", alive2{name: "live", hi: 6})
			s.cli(nil, "-port", "{PORT}", "-dump")
			a.close()
		}},
		{name: "started", run: func(s *session) { s.cli(nil, "-port", "{PORT}", "-started") }},
		{name: "kill_ok", run: func(s *session) {
			s.cli(nil, "-port", "{PORT}", "-kill")
			s.serverState(replyTimeout)
		}},
		{name: "kill_not_allowed", run: func(s *session) {
			c := s.register("reg", alive2{name: "living", hi: 6})
			s.cli(nil, "-port", "{PORT}", "-kill")
			c.close()
		}},
		{name: "kill_relaxed_env_does_not_matter_for_client", run: func(s *session) {
			c := s.register("reg", alive2{name: "living", hi: 6})
			s.cli([]string{"ERL_EPMD_RELAXED_COMMAND_CHECK="}, "-port", "{PORT}", "-relaxed_command_check", "-kill")
			c.close()
		}},
		{name: "stop_not_relaxed", run: func(s *session) {
			c := s.register("reg", alive2{name: "node1", hi: 6})
			s.cli(nil, "-port", "{PORT}", "-stop", "node1")
			s.lookup("node1")
			c.close()
		}},
		{name: "stop_relaxed", server: &relaxed, run: func(s *session) {
			c := s.register("reg", alive2{name: "node1", hi: 6})
			s.cli(nil, "-port", "{PORT}", "-stop", "node1")
			c.reply()
			s.cli(nil, "-port", "{PORT}", "-stop", "node1")
			s.cli(nil, "-port", "{PORT}", "-stop", strings.Repeat("n", 1000))
			s.cli(nil, "-port", "{PORT}", "-stop", "")
		}},
		{name: "stop_name_too_long", server: &relaxed, run: func(s *session) {
			s.cli(nil, "-port", "{PORT}", "-stop", strings.Repeat("n", 1001))
		}},
		{name: "no_server", server: &down, run: func(s *session) {
			s.cli(nil, "-port", "{PORT}", "-names")
			s.cli(nil, "-port", "{PORT}", "-dump")
			s.cli(nil, "-port", "{PORT}", "-kill")
			s.cli(nil, "-port", "{PORT}", "-stop", "x")
			s.cli(nil, "-port", "{PORT}", "-started")
			s.cli(nil, "-port", "{PORT}", "-stop", strings.Repeat("n", 1001))
			s.cli([]string{"ERL_EPMD_PORT={PORT}"}, "-names")
		}},
		{name: "server_drops_request", run: func(s *session) {
			// The client over loopback is always local; a server that drops
			// its request (here: STOP, not relaxed) gives "responded with <>".
			s.cli(nil, "-port", "{PORT}", "-stop", "nosuch")
		}},
	}
}

// usageCases are command lines the C epmd rejects with its usage text. Each
// has a -port to a free port, so an implementation that wrongly starts a
// server does not take 4369.
func usageCases() []conformanceCase {
	var cases []conformanceCase
	for _, args := range [][]string{
		{"-port", "{PORT}", "-foo"},
		{"-port", "{PORT}", "-names", "extra"},
		{"-port", "{PORT}", "-names", "-d"},
		{"-port", "{PORT}", "-kill", "-names"},
		{"-port", "{PORT}", "-dump", "-port", "{PORT}"},
		{"-port", "{PORT}", "-started", "x"},
		{"-port", "0", "-names"},
		{"-port", "abc", "-names"},
		{"-port", "-1", "-names"},
		{"-port"},
		{"-port", "{PORT}", "-packet_timeout", "0", "-names"},
		{"-port", "{PORT}", "-packet_timeout", "x", "-names"},
		{"-port", "{PORT}", "-packet_timeout"},
		{"-port", "{PORT}", "-delay_write", "0", "-names"},
		{"-port", "{PORT}", "-delay_accept", "abc", "-names"},
		{"-port", "{PORT}", "-stop"},
		{"-port", "{PORT}", "-stop", "a", "b"},
		{"-port", "{PORT}", "-stop", "a", "-names"},
		{"-port", "{PORT}", "-address"},
		{"-port", "{PORT}", "extra"},
		{"-port", "{PORT}", "-h"},
		{"-port", "{PORT}", "-help"},
		{"-port", "{PORT}", "--names"},
		{"-port", "{PORT}", "-Names"},
		{"-port", "{PORT}", "names"},
		{"-port", "{PORT}", "-"},
	} {
		cases = append(cases, conformanceCase{
			name: strings.Join(args, "_"),
			run:  func(s *session) { s.cli(nil, args...) },
		})
	}
	return cases
}

// ---------------------------------------------------------------------------
// Cases: §5 listening and -address, §8 server environment, §9 systemd, -daemon

// launch starts the binary as a server with the given arguments (PORT is
// the session's port) and returns it as the session's server, or records
// how it ended when it exits within exitWindow.
func (s *session) launch(env []string, args ...string) bool {
	argv, env := s.expand(args), s.expand(env)
	srv := s.srv
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command(srv.impl.path, argv...)
	srv.cmd.Env = epmdEnv(env...)
	srv.cmd.Stdout = &srv.stdout
	srv.cmd.Stderr = &srv.stderr
	if err := srv.cmd.Start(); err != nil {
		s.printf("start: %v", err)
		return false
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	// Either it exits (an error, or EADDRINUSE) or it answers NAMES.
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-srv.exited:
			s.printf("server exited status=%d stdout=%s stderr=%s", srv.cmd.ProcessState.ExitCode(),
				strconv.Quote(s.norm(srv.stdout.String())), strconv.Quote(s.norm(srv.stderr.String())))
			return false
		default:
		}
		if b := s.namesWithin(time.Second); len(b) >= 4 {
			s.printf("server running")
			return true
		}
		pause(pollInterval)
	}
	s.printf("server neither answers nor exits")
	return false
}

// reach records whether host answers NAMES at the session's port.
func (s *session) reach(host string) {
	c := s.dialFrom("names via "+host, host, nil)
	if c.nc == nil {
		return
	}
	c.send(namesReq)
	c.reply()
	c.close()
}

func startupCases() []conformanceCase {
	// stopServer kills the server (a KILL request, then the process) and
	// records its stderr.
	stopServer := func(s *session) {
		s.srv.kill()
		s.printf("stderr: %s", strconv.Quote(s.norm(s.srv.stderr.String())))
	}
	withPortTaken := func(host string, args ...string) func(s *session) {
		return func(s *session) {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.srv.port)))
			if err != nil {
				s.printf("cannot occupy the port: %v", err)
				return
			}
			defer l.Close()
			go func() { // refuse politely, so probes of the port end at once
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			if s.launch(nil, args...) {
				stopServer(s)
			}
		}
	}
	addrs := func(n int) string {
		var a []string
		for i := range n {
			a = append(a, fmt.Sprintf("127.0.0.%d", i+2))
		}
		return strings.Join(a, ",")
	}
	cases := []conformanceCase{
		{name: "eaddrinuse_exits_0_silently", run: withPortTaken("127.0.0.1", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_debug_message", run: withPortTaken("127.0.0.1", "-d", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_on_explicit_address", run: withPortTaken("127.0.0.2", "-address", "127.0.0.2", "-port", "{PORT}")},
		{name: "eaddrinuse_default_listen", run: withPortTaken("127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_ipv6_loopback", skip: noIPv6, run: withPortTaken("::1", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "address_parse_error", run: func(s *session) { s.launch(nil, "-address", "1.2.3.x", "-port", "{PORT}") }},
		{name: "address_brackets_parse_error", run: func(s *session) { s.launch(nil, "-address", "[::1]", "-port", "{PORT}") }},
		{name: "address_hostname_parse_error", run: func(s *session) { s.launch(nil, "-address", "localhost", "-port", "{PORT}") }},
		{name: "address_not_on_host_exit_1", run: func(s *session) { s.launch(nil, "-address", "192.0.2.77", "-port", "{PORT}") }},
		{name: "address_14_explicit_too_many", run: func(s *session) { s.launch(nil, "-address", addrs(14), "-port", "{PORT}") }},
		{name: "address_13_explicit_allowed", run: func(s *session) {
			if s.launch(nil, "-address", addrs(13), "-port", "{PORT}") {
				s.reach("127.0.0.14")
				s.reach("127.0.0.15")
				stopServer(s)
			}
		}},
		{name: "address_loopbacks_deduplicated", run: func(s *session) {
			if s.launch(nil, "-address", "127.0.0.1,::1,"+addrs(13), "-port", "{PORT}") {
				s.reach("127.0.0.14")
				stopServer(s)
			}
		}},
		{name: "address_list_separators", run: func(s *session) {
			if s.launch(nil, "-address", " 127.0.0.2 ,, 127.0.0.3,", "-port", "{PORT}") {
				s.reach("127.0.0.1")
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				s.reach("127.0.0.4")
				stopServer(s)
			}
		}},
		{name: "address_duplicate_token", run: func(s *session) { s.launch(nil, "-address", "127.0.0.2,127.0.0.2", "-port", "{PORT}") }},
		{name: "address_only_separators_listens_on_any", run: func(s *session) {
			if s.launch(nil, "-address", " , ", "-port", "{PORT}") {
				s.reach("127.0.0.5")
				stopServer(s)
			}
		}},
		{name: "default_listen_any", run: func(s *session) {
			if s.launch(nil, "-port", "{PORT}") {
				s.reach("127.0.0.6")
				stopServer(s)
			}
		}},
		{name: "address_only_loopback", run: func(s *session) {
			if s.launch(nil, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.reach("127.0.0.7")
				stopServer(s)
			}
		}},
		{name: "erl_epmd_address", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_ADDRESS=127.0.0.2"}, "-port", "{PORT}") {
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				stopServer(s)
			}
		}},
		{name: "address_flag_overrides_env", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_ADDRESS=127.0.0.2"}, "-address", "127.0.0.3", "-port", "{PORT}") {
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				stopServer(s)
			}
		}},
		{name: "erl_epmd_port_server", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_PORT={PORT}"}, "-address", "127.0.0.1") {
				s.request("names", namesReq)
				stopServer(s)
			}
		}},
		{name: "port_flag_overrides_env", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_PORT=1"}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("names", namesReq)
				stopServer(s)
			}
		}},
		{name: "relaxed_env_empty_value", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_RELAXED_COMMAND_CHECK="}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("stop", stopReq("nosuch"))
				c := s.register("reg", alive2{name: "live", hi: 6})
				s.request("kill", killReq)
				s.serverState(replyTimeout)
				c.close()
			}
		}},
		{name: "relaxed_env_value_0", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_RELAXED_COMMAND_CHECK=0"}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("stop", stopReq("nosuch"))
				stopServer(s)
			}
		}},
		{name: "packet_timeout_flag_later_wins", run: func(s *session) {
			if s.launch(nil, "-packet_timeout", "60", "-packet_timeout", "1", "-address", "127.0.0.1", "-port", "{PORT}") {
				c := s.dial("idle")
				c.record(c.read(idleCloseLimit, idleCloseLimit))
				stopServer(s)
			}
		}},
		{name: "daemon", run: func(s *session) {
			s.cli(nil, "-daemon", "-relaxed_command_check", "-address", "127.0.0.1", "-port", "{PORT}")
			deadline := time.Now().Add(startTimeout)
			for len(s.names()) < 4 && time.Now().Before(deadline) {
				pause(pollInterval)
			}
			s.request("names", namesReq)
			s.request("kill", killReq)
			deadline = time.Now().Add(replyTimeout)
			for len(s.names()) >= 4 && time.Now().Before(deadline) {
				pause(pollInterval)
			}
			s.reach("127.0.0.1")
		}},
		{name: "server_port_above_65535", run: func(s *session) {
			// -port is atoi'd and truncated to 16 bits for bind, but NAMES
			// reports the configured value.
			if s.launch(nil, "-address", "127.0.0.1", "-port", "{PORT+65536}") {
				s.request("names", namesReq)
				s.cli(nil, "-port", "{PORT}", "-names")
				stopServer(s)
			}
		}},
		{name: "closed_stdout_stderr_pipes", run: runClosedStdio},
		{name: "systemd_no_sockets", run: func(s *session) { s.launch(nil, "-systemd", "-port", "{PORT}") }},
		{name: "systemd_socket", run: runSystemd},
	}
	return cases
}

// runClosedStdio starts a server at debug level 2 with stdout and stderr on
// pipes, and once it serves, closes their readers (as when epmd_SUITE's
// test case process ends): its writes fail with EPIPE, and it must go on
// serving. (The C epmd ignores SIGPIPE only once its server loop starts;
// closing the pipes earlier kills it.)
func runClosedStdio(s *session) {
	srv := s.srv
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command(srv.impl.path, "-d", "-d", "-packet_timeout", "1", "-address", "127.0.0.1", "-port", strconv.Itoa(srv.port))
	srv.cmd.Env = epmdEnv()
	srv.cmd.Stdout, srv.cmd.Stderr = outW, errW
	err := srv.cmd.Start()
	outW.Close()
	errW.Close()
	defer outR.Close()
	defer errR.Close()
	if err != nil {
		s.printf("start: %v", err)
		return
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	deadline := time.Now().Add(startTimeout)
	for len(s.namesWithin(200*time.Millisecond)) < 4 && time.Now().Before(deadline) {
		pause(pollInterval)
	}
	outR.Close() // the pipe buffers (64 KiB) hold what was written so far
	errR.Close()
	c := s.register("reg", alive2{name: "nopipe", hi: 6})
	s.request("names", namesReq)
	s.request("garbage", frame([]byte{'?'}))
	s.lookup("nopipe")
	c.close()
	s.waitUnregistered("nopipe")
	s.request("kill", killReq)
	s.serverState(replyTimeout)
}

// runSystemd hands a listening socket to the server as systemd does
// (LISTEN_FDS=1, LISTEN_PID, fd 3) with a NOTIFY_SOCKET, and records the
// NAMES port field (the configured port, not the socket's) and the
// notifications.
func runSystemd(s *session) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		s.printf("listen: %v", err)
		return
	}
	defer l.Close()
	lf, _ := l.(*net.TCPListener).File()
	defer lf.Close()
	sockPort := l.Addr().(*net.TCPAddr).Port

	dir, _ := os.MkdirTemp("", "sd-notify")
	defer os.RemoveAll(dir)
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		s.printf("notify socket: %v", err)
		return
	}
	defer notify.Close()

	srv := s.srv
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command("/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, srv.impl.path, "-systemd", "-packet_timeout", "1")
	srv.cmd.Env = epmdEnv("LISTEN_FDS=1", "NOTIFY_SOCKET="+notifyPath)
	srv.cmd.ExtraFiles = []*os.File{lf}
	srv.cmd.Stdout, srv.cmd.Stderr = &srv.stdout, &srv.stderr
	if err := srv.cmd.Start(); err != nil {
		s.printf("start: %v", err)
		return
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	lf.Close()
	l.Close() // the server owns the socket now

	readNotify := func() {
		notify.SetReadDeadline(time.Now().Add(replyTimeout))
		buf := make([]byte, 4096)
		n, err := notify.Read(buf)
		if err != nil {
			s.printf("notify: %s", errClass(err))
			return
		}
		s.printf("notify: %s", strconv.Quote(s.norm(string(buf[:n]))))
	}
	readNotify()
	s.srv.port = sockPort
	s.request("names", namesReq) // port field: 4369, the configured port
	s.request("kill", killReq)
	s.serverState(replyTimeout)
	readNotify()
	s.printf("stderr: %s", strconv.Quote(s.norm(srv.stderr.String())))
}

// ---------------------------------------------------------------------------
// Cases: §10 debug output. The same requests, one at a time, against servers
// at debug levels 0..3; the servers' stderr must be equal after
// normalisation.

func debugLogCases() []conformanceCase {
	var cases []conformanceCase
	for level := range 4 {
		// Default packet timeout: a loaded machine must not turn a slow
		// client into a timeout line.
		args := []string{"-address", "127.0.0.1", "-relaxed_command_check"}
		for range level {
			args = append([]string{"-d"}, args...)
		}
		spec := serverSpec{args: args}
		cases = append(cases, conformanceCase{
			name:       fmt.Sprintf("level_%d", level),
			server:     &spec,
			sequential: true,
			run: func(s *session) {
				// logStep runs one step and waits until the server has
				// logged it: the C server logs before it closes a
				// connection; when the client closes, it logs an
				// "unregister" line from level 1 on. The Go server must
				// reach the C server's line count for the step.
				logStep := func(clientCloses bool, f func()) {
					before := strings.Count(s.srv.stderr.String(), "unregister")
					f()
					if clientCloses && level >= 1 {
						s.waitStderr("unregister", before+1)
					}
					if s.ref != nil && len(s.marks) < len(s.ref.marks) {
						deadline := time.Now().Add(time.Second)
						for s.logLines() < s.ref.marks[len(s.marks)] && time.Now().Before(deadline) {
							pause(pollInterval)
						}
					}
					s.settleStderr()
					s.marks = append(s.marks, s.logLines())
				}
				step := func(f func()) { logStep(false, f) }
				step(func() { s.request("names", namesReq) })
				step(func() { s.request("garbage", frame([]byte{'?'})) })
				step(func() { s.request("len0", []byte{0, 0}) })
				step(func() { s.request("surplus", []byte{0, 1, 'n', 0}) })
				step(func() { s.request("small alive2", frame([]byte{'x', 0})) })
				var a, dup, bad *conn
				step(func() { a = s.register("reg", alive2{name: "dbg", hi: 6, extra: "ex"}) })
				step(func() { dup = s.register("dup", alive2{name: "dbg", hi: 5}) })
				step(func() { bad = s.register("bad", alive2{name: "bad\xff", hi: 6}) })
				logStep(true, func() { s.register("long", alive2{name: strings.Repeat("l", 256), hi: 6}).close() })
				step(func() { s.lookup("dbg") })
				step(func() { s.lookup("nosuch") })
				step(func() { s.lookup("bad\xff") })
				step(func() { s.request("dump", dumpReq) })
				step(func() { a.send([]byte{1}); a.reply() })
				logStep(true, dup.close)
				logStep(true, bad.close)
				step(func() { s.waitUnregistered("dbg") })
				step(func() { s.request("stop", stopReq("nosuch")) })
				step(func() {
					c := s.dial("partial")
					c.send([]byte{0, 9, 'z'})
					c.closeWrite()
					c.reply()
				})
				step(func() { s.request("kill", killReq) })
				s.serverState(replyTimeout)
				s.printf("stderr:")
				for _, l := range strings.SplitAfter(dumpLenRE.ReplaceAllString(s.norm(s.srv.stderr.String()), "got LEN bytes${1}"), "\n") {
					// Level 3 reads the clock on every select() wake-up:
					// how many of those lines appear is a matter of timing.
					if l != "" && !strings.Contains(l, "time in seconds") {
						s.printf("  %s", strconv.Quote(l))
					}
				}
			},
		})
	}
	return cases
}

// logLines counts the server's log lines, without level 3's clock lines.
func (s *session) logLines() int {
	text := s.srv.stderr.String()
	return strings.Count(text, "\n") - strings.Count(text, "time in seconds")
}

// waitStderr polls until the server's stderr holds n copies of text.
func (s *session) waitStderr(text string, n int) {
	deadline := time.Now().Add(pollTimeout)
	for strings.Count(s.srv.stderr.String(), text) < n {
		if time.Now().After(deadline) {
			s.printf("stderr has not %d times %q after %v", n, text, pollTimeout)
			return
		}
		pause(pollInterval)
	}
}

// dumpLenRE finds the "got N bytes" line before a hex dump of DUMP text
// (-d -d): N depends on the digits of the fd numbers in it.
var dumpLenRE = regexp.MustCompile(`got \d+ bytes(\r\n(?:\*\*\*\*\* [^\n]*\n)*?\*\*\*\*\* [^\n]*fd = N[^\n]*\n)`)

// settleStderr waits until the server's stderr has not grown for a short
// while, so log lines of one step are not mixed with the next.
func (s *session) settleStderr() {
	n := len(s.srv.stderr.String())
	deadline := time.Now().Add(pollTimeout)
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		pause(pollInterval)
		if m := len(s.srv.stderr.String()); m != n {
			n, quietSince = m, time.Now()
		} else if time.Since(quietSince) >= stderrQuiet {
			return
		}
	}
}

// ---------------------------------------------------------------------------
// §4 non-local peers, in a private network namespace: the servers listen on
// 192.0.2.1 (and 2001:db8::1), an address that is not loopback; clients
// connect from 192.0.2.2 (non-local), from 192.0.2.1 (the server's own
// address: local) and from 127.0.0.1 (loopback: local). All addresses are on
// the namespace's own lo, so no traffic leaves it.

func runNonLocal(t *testing.T, impls [2]impl) {
	if os.Getenv("CONFORMANCE_NETNS") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConformance$/^nonlocal$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CONFORMANCE_NETNS=1", "C_EPMD_BIN="+impls[0].path, "CHAOS_EPMD_BIN="+impls[1].path, "CHAOS_EPMD_BINARY="+impls[1].path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			skipOrFail(t, fmt.Sprintf("cannot create a network namespace for the non-local cases: %v", err))
		}
		err := cmd.Wait()
		text := out.String()
		if err != nil {
			t.Errorf("non-local cases (run in a network namespace) failed: %v\n%s", err, text)
			return
		}
		if m := regexp.MustCompile(`--- SKIP: TestConformance/nonlocal \([^)]*\)\n\s*(.*)`).FindStringSubmatch(text); m != nil {
			skipOrFail(t, "non-local cases skipped in the network namespace: "+m[1])
		}
		if os.Getenv("CONFORMANCE_SHOW") == "1" {
			t.Log(text)
		}
		return
	}

	ipv6 := true
	for _, cmd := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", "192.0.2.1/32", "dev", "lo"},
		{"addr", "add", "192.0.2.2/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
			t.Skipf("ip %s: %v %s", strings.Join(cmd, " "), err, out)
		}
	}
	for _, cmd := range [][]string{
		{"-6", "addr", "add", "2001:db8::1/128", "dev", "lo", "nodad"},
		{"-6", "addr", "add", "2001:db8::2/128", "dev", "lo", "nodad"},
	} {
		if err := exec.Command("ip", cmd...).Run(); err != nil {
			ipv6 = false
		}
	}
	addrList := "192.0.2.1"
	if ipv6 {
		addrList += ",2001:db8::1"
	}
	spec := serverSpec{args: []string{"-packet_timeout", "1", "-relaxed_command_check", "-address", addrList}}
	servers := startPair(t, impls, spec)

	remote := net.ParseIP("192.0.2.2")
	own := net.ParseIP("192.0.2.1")
	from := func(s *session, tag string, src net.IP, dst string, b []byte) *conn {
		c := s.dialFrom(tag, dst, src)
		c.send(b)
		return c
	}
	cases := []conformanceCase{
		{name: "alive2_dropped", run: func(s *session) {
			c := from(s, "alive2", remote, "192.0.2.1", alive2{name: "remote", hi: 6}.frame())
			c.reply()
			s.lookup("remote")
		}},
		{name: "dump_dropped", run: func(s *session) { from(s, "dump", remote, "192.0.2.1", dumpReq).reply() }},
		{name: "kill_dropped_even_relaxed", run: func(s *session) {
			from(s, "kill", remote, "192.0.2.1", killReq).reply()
			s.serverState(openWindow)
		}},
		{name: "stop_dropped_even_relaxed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "victim", hi: 6})
			from(s, "stop", remote, "192.0.2.1", stopReq("victim")).reply()
			s.lookup("victim")
			reg.close()
		}},
		{name: "garbage_dropped", run: func(s *session) { from(s, "garbage", remote, "192.0.2.1", frame([]byte{'?'})).reply() }},
		{name: "names_allowed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "listed", hi: 6})
			from(s, "names", remote, "192.0.2.1", namesReq).reply()
			reg.close()
		}},
		{name: "port2_allowed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "found", hi: 6, extra: "e"})
			from(s, "port2", remote, "192.0.2.1", port2("found")).reply()
			from(s, "port2 unknown", remote, "192.0.2.1", port2("nosuch")).reply()
			reg.close()
		}},
		{name: "own_address_is_local", run: func(s *session) {
			c := s.dialFrom("alive2 from own address", "192.0.2.1", own)
			s.alive2On(c, "ownaddr", alive2{name: "ownaddr", hi: 6}.frame())
			from(s, "dump from own address", own, "192.0.2.1", dumpReq).reply()
			c.close()
		}},
		{name: "loopback_source_is_local", run: func(s *session) {
			c := s.dialFrom("alive2 from 127.0.0.1", "192.0.2.1", net.ParseIP("127.0.0.1"))
			s.alive2On(c, "loopsrc", alive2{name: "loopsrc", hi: 6}.frame())
			c.close()
		}},
		{name: "ipv6_alive2_dropped", skip: func() string {
			if !ipv6 {
				return "no IPv6 in the namespace"
			}
			return ""
		}, run: func(s *session) {
			from(s, "alive2", net.ParseIP("2001:db8::2"), "2001:db8::1", alive2{name: "remote6", hi: 6}.frame()).reply()
			c := s.dialFrom("alive2 from own v6 address", "2001:db8::1", net.ParseIP("2001:db8::1"))
			s.alive2On(c, "own6", alive2{name: "own6", hi: 6}.frame())
			c.close()
		}},
		{name: "kill_local_after_remote", run: func(s *session) {
			// Last: a local KILL still works (relaxed) and ends the server.
			from(s, "kill remote", remote, "192.0.2.1", killReq).reply()
			s.request("kill local", killReq)
			s.serverState(replyTimeout)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != nil {
				if why := c.skip(); why != "" {
					t.Skip(why)
				}
			}
			// Sequential: the last case kills the shared servers.
			runCase(t, servers, c.run)
		})
	}
}
