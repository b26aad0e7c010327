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
// Files, by request type:
//   conformance_alive2_test.go          ALIVE2 and creation (requests, fresh)
//   conformance_port_please_test.go     PORT_PLEASE2 (port2)
//   conformance_names_test.go           NAMES contents (fresh)
//   conformance_dump_kill_stop_test.go  DUMP, KILL, STOP (stop_*, fresh)
//   conformance_framing_test.go         framing, limits, timeouts, delays (quiet, fresh, delays)
//   conformance_cli_test.go             command line and debug output (cli, usage, debuglog)
//   conformance_startup_test.go         listening, environment, systemd, -daemon (startup)
//   conformance_nonlocal_test.go        non-local peers (nonlocal)
//   conformance_server_test.go, conformance_session_test.go,
//   conformance_requests_test.go        the servers, sessions, connections and request helpers
//
// Environment:
//   CHAOS_EPMD_BIN  use this chaos-epmd binary instead of building one
//   C_EPMD_BIN      use this C epmd instead of the installed one
//   CONFORMANCE_SHOW=1  log every transcript, also when they agree
//   CI=true         a missing C epmd (or network namespace) fails instead of skipping

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// freshCases are the cases that need a server of their own, in one group:
// NAMES/DUMP contents, KILL, creation memory, connection limit, default
// timeout (their cases are in the files of their request types).
func freshCases() []conformanceCase {
	return slices.Concat(namesFreshCases(), dumpKillFreshCases(), creationFreshCases(), limitFreshCases())
}
