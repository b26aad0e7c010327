package main_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// bench is the epmd-bench binary built for the tests.
var bench string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "epmd-bench-test")
	if err != nil {
		panic(err)
	}
	bench = filepath.Join(dir, "epmd-bench")
	if out, err := exec.Command("go", "build", "-o", bench, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bench, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatal(err)
	return "", -1
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown phase", []string{"-phases", "register,dump"},
			"epmd-bench: unknown phase \"dump\" (valid: register, port_please, names, churn)\n"},
		{"reference that is no target", []string{"-target", "a=@127.0.0.1:1", "-ref", "C"},
			"epmd-bench: -ref C names no -target\n"},
		{"no clients", []string{"-clients", "0"},
			"epmd-bench: -clients, -workers, -rounds and -slices must be at least 1, -nodes at least 0\n"},
		{"no slices", []string{"-slices", "0"},
			"epmd-bench: -clients, -workers, -rounds and -slices must be at least 1, -nodes at least 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, tt.args...)
			if code != 2 || out != tt.want {
				t.Fatalf("exit %d, output %q; want exit 2, %q", code, out, tt.want)
			}
		})
	}
}

// One small run against two in-process servers: every phase completes
// without error, the table has a row per figure, medians for each target
// and one ratio column per target and reference.
func TestRunAgainstServers(t *testing.T) {
	for _, sl := range []string{"1", "3"} {
		t.Run("slices="+sl, func(t *testing.T) { runAgainstServers(t, "-slices", sl) })
	}
}

// runAgainstServers runs a short comparison of two in-process servers with
// extra flags and checks the report: every row there, no errors, every
// node registered.
func runAgainstServers(t *testing.T, extra ...string) {
	addr := func() string { return serveInProcess(t) }
	out, code := run(t, append([]string{"-target", "one=@" + addr(), "-target", "two=@" + addr(), "-ref", "one",
		"-nodes", "40", "-clients", "2", "-workers", "2", "-rounds", "2",
		"-pp-count", "40", "-names-count", "6", "-churn-count", "40",
		"-conntrack-limit", "0"}, extra...)...) // a few hundred connections: no need to wait for the table
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != "epmd-bench: 40 nodes, 2 clients over 2 worker processes, 2 rounds, targets in turn" {
		t.Fatalf("first line %q", lines[0])
	}
	fields := func(label string) [][]string {
		var rows [][]string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(strings.TrimSpace(l), label+" ") {
				rows = append(rows, f[len(strings.Fields(label)):])
			}
		}
		return rows
	}
	if got := fields("figure"); len(got) != 1 || strings.Join(got[0], " ") != "one two two/one" {
		t.Fatalf("header row %q, want one two two/one\n%s", got, out)
	}
	// register, fresh daemon; register; PORT_PLEASE2; NAMES; churn.
	errs := fields("errors")
	if len(errs) != 5 {
		t.Fatalf("%d errors rows, want 5\n%s", len(errs), out)
	}
	for _, r := range errs {
		if strings.Join(r, " ") != "0 0 -" {
			t.Fatalf("errors row %q, want 0 0 -\n%s", r, out)
		}
	}
	held := fields("nodes held")
	if len(held) != 2 || strings.Join(held[0], " ") != "40 40 1.00×" || strings.Join(held[1], " ") != "40 40 1.00×" {
		t.Fatalf("nodes held rows %q, want 40 40 1.00× twice\n%s", held, out)
	}
	// The targets run in this process (pid unknown): no CPU per request.
	if got := fields("server CPU per request"); len(got) != 5 || strings.Join(got[0], " ") != "0.0 µs 0.0 µs -" {
		t.Fatalf("server CPU per request rows %q, want 5 of 0.0 µs 0.0 µs -\n%s", got, out)
	}
	stolen := regexp.MustCompile(`^[0-9]+\.[0-9] % [0-9]+\.[0-9] % ([0-9]+\.[0-9]{2}×|-)$`)
	if got := fields("host CPU stolen"); len(got) != 5 {
		t.Fatalf("%d host CPU stolen rows, want 5\n%s", len(got), out)
	} else {
		for _, r := range got {
			if !stolen.MatchString(strings.Join(r, " ")) {
				t.Fatalf("host CPU stolen row %q\n%s", r, out)
			}
		}
	}
	rate := regexp.MustCompile(`^[0-9]+/s [0-9]+/s [0-9]+\.[0-9]{2}×$`)
	for _, label := range []string{"nodes/s", "req/s", "cycles/s"} {
		for _, r := range fields(label) {
			if !rate.MatchString(strings.Join(r, " ")) {
				t.Fatalf("%s row %q\n%s", label, r, out)
			}
		}
	}
}

// TestAcceptTrace runs -accept-trace on the C epmd, which makes one
// accept call per connection, beside an in-process server, which cannot be
// traced: the C epmd's rows count exactly the registrations. It needs
// root, perf and epmd (make deps installs them); without them it fails
// under CI=true and is skipped elsewhere.
func TestAcceptTrace(t *testing.T) {
	_, perfErr := exec.LookPath("perf")
	_, epmdErr := exec.LookPath("epmd")
	if perfErr != nil || epmdErr != nil || os.Geteuid() != 0 {
		msg := fmt.Sprintf("needs root, perf and epmd: perf %v, epmd %v, euid %d", perfErr, epmdErr, os.Geteuid())
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + ", and CI=true")
		}
		t.Skip(msg)
	}
	inproc := serveInProcess(t)
	out, code := run(t, "-target", "C=epmd -port "+freePort(t)+" -relaxed_command_check", "-target", "two=@"+inproc,
		"-nodes", "40", "-clients", "2", "-workers", "2", "-rounds", "2", "-phases", "register",
		"-conntrack-limit", "0", "-accept-trace")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	want := "epmd-bench: -accept-trace: target two is no process started here (@" + inproc + "): its accept calls are not traced\n"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("output begins %q, want %q", out[:min(len(out), len(want))], want)
	}
	var calls []string
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "  accept calls "); ok && !strings.HasPrefix(rest, "over") {
			calls = append(calls, strings.Join(strings.Fields(rest), " "))
		}
	}
	// The fresh daemon's registration, then the median of the two rounds'.
	if len(calls) != 2 || calls[0] != "40 0 0.00×" || calls[1] != "40 0 0.00×" {
		t.Fatalf("accept calls rows %q, want \"40 0 0.00×\" twice\n%s", calls, out)
	}
	for _, label := range []string{"accept calls over 1 ms, all rounds", "their time blocked", "their time waiting for a CPU", "their time in softirqs", "their time running or stolen", "their time stolen by the host, at least", "their time on a CPU with no timer interrupt", "accept calls over 1 ms without that time, all rounds", "longest accept call, all rounds", "server's time on a CPU", "with no timer interrupt"} {
		if n := strings.Count(out, "  "+label+" "); n != 2 {
			t.Errorf("%d %q rows, want 2\n%s", n, label, out)
		}
	}
}

// TestFreshDaemons checks that the warm-up runs once per round, each time
// on a daemon started anew (a new pid every time), and only once when a
// target is a daemon the tool did not start. It needs epmd (make deps
// installs it); without it it fails under CI=true and is skipped elsewhere.
func TestFreshDaemons(t *testing.T) {
	if _, err := exec.LookPath("epmd"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs epmd: %v, and CI=true", err)
		}
		t.Skipf("needs epmd: %v", err)
	}
	// freshLines returns, per target, the pids of its "fresh N" lines,
	// which must be numbered 1, 2, ... in order.
	freshLines := func(out string) map[string][]string {
		re := regexp.MustCompile(`^  fresh ([0-9]+) +register +([a-zA-Z]+) +pid ([0-9]+): `)
		pids := make(map[string][]string)
		for line := range strings.Lines(out) {
			m := re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if want := strconv.Itoa(len(pids[m[2]]) + 1); m[1] != want {
				t.Fatalf("line %q: fresh %s, want fresh %s\n%s", line, m[1], want, out)
			}
			pids[m[2]] = append(pids[m[2]], m[3])
		}
		return pids
	}
	args := []string{"-nodes", "20", "-clients", "2", "-workers", "2", "-rounds", "3", "-phases", "register",
		"-conntrack-limit", "0", "-v"}

	t.Run("started here", func(t *testing.T) {
		out, code := run(t, append([]string{"-target", "C=epmd -port " + freePort(t) + " -relaxed_command_check"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		pids := freshLines(out)["C"]
		if len(pids) != 3 || pids[0] == pids[1] || pids[1] == pids[2] || pids[0] == pids[2] {
			t.Fatalf("fresh daemons' pids %q, want 3 different ones\n%s", pids, out)
		}
		if !regexp.MustCompile(`(?m)^C: RSS idle [0-9.]+ MiB, [0-9.]+ MiB with 20 nodes registered on a fresh daemon \(median of 3\): [0-9]+ bytes per node; registering them took `).MatchString(out) {
			t.Fatalf("no memory line for the median of 3 fresh daemons\n%s", out)
		}
		// The C epmd's memory: its RSS, split into anonymous pages and
		// pages of mapped files (its binary, libc), both above zero.
		mem := regexp.MustCompile(`(?m)^  RSS with the nodes +([0-9.]+) MiB\n    of which anonymous +([0-9.]+) MiB\n    of which mapped files +([0-9.]+) MiB\n`).FindAllStringSubmatch(out, -1)
		if len(mem) != 2 {
			t.Fatalf("%d RSS blocks, want 2 (fresh daemons, rounds)\n%s", len(mem), out)
		}
		for _, m := range mem {
			rss, _ := strconv.ParseFloat(m[1], 64)
			anon, _ := strconv.ParseFloat(m[2], 64)
			file, _ := strconv.ParseFloat(m[3], 64)
			if anon <= 0 || file <= 0 || rss < anon+file-0.15 || rss > anon+file+0.15 {
				t.Fatalf("RSS %s MiB = %s anonymous + %s mapped files: want both above zero, adding up (rounded to 0.1)\n%s", m[1], m[2], m[3], out)
			}
		}
	})
	t.Run("one not started here", func(t *testing.T) {
		out, code := run(t, append([]string{"-target", "C=epmd -port " + freePort(t) + " -relaxed_command_check",
			"-target", "two=@" + serveInProcess(t)}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if got := freshLines(out); len(got["C"]) != 1 || len(got["two"]) != 1 {
			t.Fatalf("fresh lines %q, want one per target\n%s", got, out)
		}
		if !strings.Contains(out, "\nC: RSS idle ") || !strings.Contains(out, " registered on the fresh daemon: ") {
			t.Fatalf("no memory line for the one fresh daemon\n%s", out)
		}
	})
}

// freePort returns a port for an epmd the tool starts, free on 0.0.0.0 and
// [::] where the epmd listens, below the ephemeral range and reserved for
// the test (epmdtest.Port). A port the kernel handed out for ":0" could go
// to another package's listener or connection before the epmd binds it,
// and the epmd then exits. (TestAcceptTrace failed so once in CI: "target
// C ... not answering after 10s: ... connection refused".)
func freePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(epmdtest.Port(t))
}

// serveInProcess starts a chaos-epmd server in the test process on a free
// loopback port, closed when the test ends, and returns its address.
func serveInProcess(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &epmd.Server{}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().String()
}
