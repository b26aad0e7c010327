package main_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// crosscheck compiles testdata/crosscheck.c, the second load client that
// `make bench-crosscheck` runs, warnings as errors, and returns its path.
func crosscheck(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crosscheck")
	out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, "testdata/crosscheck.c").CombinedOutput()
	if err != nil {
		t.Fatalf("cc testdata/crosscheck.c: %v\n%s", err, out)
	}
	return bin
}

// runCrosscheck runs the client and returns its stdout, stderr and exit
// status.
func runCrosscheck(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	return runSplit(t, exec.Command(bin, args...))
}

// runSplit runs cmd and returns its stdout, stderr and exit status.
func runSplit(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}

// countingServer serves on a free loopback port with a node table the test
// can read, and returns its port.
func countingServer(t *testing.T, reg *epmd.MemRegistry) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &epmd.Server{Registry: reg}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// registered returns how many nodes reg holds, as soon as that is want, or
// after 5 s: registrations end when the server sees their connections
// close, a moment after the client exits.
func registered(reg *epmd.MemRegistry, want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := len(reg.Nodes(nil))
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCrosscheckMeasuresEveryTarget(t *testing.T) {
	bin := crosscheck(t)
	var regA, regB epmd.MemRegistry
	a, b := countingServer(t, &regA), countingServer(t, &regB)
	for _, mode := range []struct {
		name, title string
	}{
		{"pp", "PORT_PLEASE2 (connect, request, reply, close), 2 rounds of 200 requests from 2 processes, 7 more nodes held"},
		{"churn", "churn (connect, ALIVE2, reply, close), 2 rounds of 200 requests from 2 processes, 7 more nodes held"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			stdout, stderr, code := runCrosscheck(t, bin, "-rounds", "2", "-n", "200", "-procs", "2", "-hold", "7", "-conntrack", "0", mode.name, "first="+a, "second="+b)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			want := regexp.MustCompile(`^` + regexp.QuoteMeta(mode.title) + `\n` +
				`first +[0-9]+/s  rounds [0-9]+\.\.[0-9]+/s  p99 [0-9]+\.[0-9]{2} ms  1\.000x first\n` +
				`second +[0-9]+/s  rounds [0-9]+\.\.[0-9]+/s  p99 [0-9]+\.[0-9]{2} ms  [0-9]+\.[0-9]{3}x first\n$`)
			if !want.MatchString(stdout) {
				t.Fatalf("output:\n%s\nwant it to match\n%s", stdout, want)
			}
			// The held nodes, node1_<pid> and every churn registration end
			// with the client.
			for name, reg := range map[string]*epmd.MemRegistry{"first": &regA, "second": &regB} {
				if n := registered(reg, 0); n != 0 {
					t.Errorf("%s still holds %d nodes after the run", name, n)
				}
			}
		})
	}
}

func TestCrosscheckErrors(t *testing.T) {
	bin := crosscheck(t)
	const usage = "usage: crosscheck [-rounds R] [-n N] [-procs P] [-hold H] [-conntrack F] pp|churn NAME=PORT...\n" +
		"  R rounds (1-64, default 9) of N requests (100 or more, default 8000)\n" +
		"  from P processes (1-32, default 4) per target, 1-16 targets,\n" +
		"  each holding H more registered nodes (default 1000); before each round,\n" +
		"  wait while the conntrack table is over F of its maximum (default 0.5; 0: never)\n"
	refused := strconv.Itoa(epmdtest.Port(t)) // reserved and free: nothing listens
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no mode", nil, 2, "crosscheck: give the mode: pp or churn\n" + usage},
		{"unknown mode", []string{"dump", "a=1"}, 2, "crosscheck: give the mode: pp or churn\n" + usage},
		{"no target", []string{"pp"}, 2, "crosscheck: give 1 to 16 targets as NAME=PORT\n" + usage},
		{"bad count", []string{"-n", "5", "pp", "a=1"}, 2, "crosscheck: -n 5: out of range or not a number\n" + usage},
		{"rounds not a number", []string{"-rounds", "3x", "pp", "a=1"}, 2, "crosscheck: -rounds 3x: out of range or not a number\n" + usage},
		{"conntrack over 1", []string{"-conntrack", "1.5", "pp", "a=1"}, 2, "crosscheck: -conntrack 1.5: out of range or not a number\n" + usage},
		{"unknown flag", []string{"-nodes", "5", "pp", "a=1"}, 2, "crosscheck: unknown flag -nodes\n" + usage},
		{"target without port", []string{"pp", "a"}, 2, "crosscheck: target a: expected NAME=PORT, PORT 1-65535\n" + usage},
		{"port out of range", []string{"churn", "a=70000"}, 2, "crosscheck: target a=70000: expected NAME=PORT, PORT 1-65535\n" + usage},
		{"nothing listening", []string{"-hold", "0", "pp", "gone=" + refused}, 1,
			"crosscheck: connect (target gone, port " + refused + "): Connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCrosscheck(t, bin, tt.args...)
			if code != tt.code || stderr != tt.stderr || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, no stdout, stderr:\n%s", code, stdout, stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestCrosscheckScript runs `make bench-crosscheck`'s script on two C epmd
// daemons it starts and stops itself. It needs epmd (make deps installs
// it); without it it fails under CI=true and is skipped elsewhere.
func TestCrosscheckScript(t *testing.T) {
	if _, err := exec.LookPath("epmd"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs epmd: %v, and CI=true", err)
		}
		t.Skipf("needs epmd: %v", err)
	}
	bin := crosscheck(t)
	script := func(t *testing.T, targets ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"testdata/crosscheck.sh", bin}, targets...)...)
		cmd.Env = append(os.Environ(), "CROSSCHECKFLAGS=-rounds 1 -n 100 -procs 2 -hold 3 -conntrack 0")
		return runSplit(t, cmd)
	}
	t.Run("two daemons", func(t *testing.T) {
		p1, p2 := freePort(t), freePort(t)
		stdout, stderr, code := script(t, "one=epmd -port "+p1+" -relaxed_command_check", "two=epmd -port "+p2+" -relaxed_command_check")
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
		}
		want := regexp.MustCompile(`^PORT_PLEASE2 \(connect, request, reply, close\), 1 rounds of 100 requests from 2 processes, 3 more nodes held\n` +
			`one .* 1\.000x one\ntwo .*x one\n` +
			`churn \(connect, ALIVE2, reply, close\), 1 rounds of 100 requests from 2 processes, 3 more nodes held\n` +
			`one .* 1\.000x one\ntwo .*x one\n$`)
		if !want.MatchString(stdout) {
			t.Fatalf("output:\n%s\nwant it to match\n%s", stdout, want)
		}
		// Both daemons stopped with the script: their ports are free.
		for _, p := range []string{p1, p2} {
			if c, err := net.Dial("tcp4", "127.0.0.1:"+p); err == nil {
				c.Close()
				t.Errorf("port %s still answers after the script", p)
			}
		}
	})
	t.Run("port already served", func(t *testing.T) {
		addr := serveInProcess(t)
		_, port, _ := net.SplitHostPort(addr)
		stdout, stderr, code := script(t, "late=epmd -port "+port)
		if want := "crosscheck.sh: late: port " + port + " already answers; stop that server first\n"; code != 1 || stderr != want || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, stdout, stderr, want)
		}
	})
	t.Run("no port", func(t *testing.T) {
		stdout, stderr, code := script(t, "bare=epmd")
		if want := "crosscheck.sh: bare=epmd: expected NAME=COMMAND with -port N in the command\n"; code != 2 || stderr != want || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, stderr %q", code, stdout, stderr, want)
		}
	})
}
