package main_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
	// Deliberate deviations (README): help and -version.
	for _, help := range []string{"-h", "-help", "--help"} {
		args := []string{"-port", "{PORT}", help}
		cases = append(cases, conformanceCase{
			name:      strings.Join(args, "_"),
			run:       func(s *session) { s.cli(nil, args...) },
			deviation: helpDeviation,
		})
	}
	cases = append(cases, conformanceCase{
		name:      "-port_{PORT}_-version",
		run:       func(s *session) { s.cli(nil, "-port", "{PORT}", "-version") },
		deviation: versionDeviation,
	})
	return cases
}

// cutCLI splits the one transcript line of a cli call into what comes
// before stderr (command, exit status, stdout) and stderr, unquoted.
func cutCLI(t *testing.T, who string, lines []string) (head, stderr string) {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("%s transcript: %d lines, want 1: %q", who, len(lines), lines)
	}
	head, quoted, ok := strings.Cut(lines[0], " stderr=")
	if !ok {
		t.Fatalf("%s transcript has no stderr: %q", who, lines[0])
	}
	stderr, err := strconv.Unquote(quoted)
	if err != nil {
		t.Fatalf("%s transcript's stderr %s: %v", who, quoted, err)
	}
	return head, stderr
}

// helpDeviation: for -h, -help and --help both exit 1 with nothing on
// stdout; chaos-epmd's stderr is the C epmd's usage text byte for byte,
// then its own section.
func helpDeviation(t *testing.T, c, chaos []string) {
	cHead, cErr := cutCLI(t, "C epmd", c)
	gHead, gErr := cutCLI(t, "chaos-epmd", chaos)
	if cHead != gHead || !strings.HasSuffix(cHead, `: exit=1 stdout=""`) {
		t.Errorf("exit status and stdout: C %q, chaos-epmd %q; want both exit=1 and no stdout", cHead, gHead)
	}
	rest, ok := strings.CutPrefix(gErr, cErr)
	if !ok || !strings.HasPrefix(cErr, "usage: epmd ") {
		t.Fatalf("chaos-epmd's stderr does not start with the C usage text:\nC:\n%s\nchaos-epmd:\n%s", cErr, gErr)
	}
	if want := "\nchaos-epmd: the options above are the C epmd's"; !strings.HasPrefix(rest, want) {
		t.Errorf("after the C text chaos-epmd prints %q, want it to start with %q", clip(rest), want)
	}
}

// versionDeviation: the C epmd rejects -version with its usage (exit 1);
// chaos-epmd prints its version line on stdout and exits 0.
func versionDeviation(t *testing.T, c, chaos []string) {
	cHead, cErr := cutCLI(t, "C epmd", c)
	gHead, gErr := cutCLI(t, "chaos-epmd", chaos)
	if !strings.HasSuffix(cHead, `: exit=1 stdout=""`) || !strings.HasPrefix(cErr, "usage: epmd ") {
		t.Errorf("C epmd -version: %q stderr %q, want exit=1 and the usage", cHead, clip(cErr))
	}
	if !strings.Contains(gHead, `: exit=0 stdout="chaos-epmd `) || gErr != "" {
		t.Errorf("chaos-epmd -version: %q stderr %q, want exit=0, the version on stdout, nothing on stderr", gHead, gErr)
	}
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
				// Open at the KILL: a registration and a connection that
				// sent nothing. The C epmd closes both on its way out, each
				// with its level-2 line, and unregisters nobody.
				var held, idle *conn
				step(func() { held = s.register("held", alive2{name: "held", hi: 6}) })
				step(func() { idle = s.dial("idle") })
				step(func() { s.request("kill", killReq) })
				s.serverState(replyTimeout)
				held.close()
				idle.close()
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
