package main_test

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// runBin runs the built chaos-epmd with args and returns its exit status,
// stdout and stderr.
func runBin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(chaosEpmd(t), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run chaos-epmd %q: %v", args, err)
	return 0, "", ""
}

// TestHelp: -h, -help and --help print the C epmd's usage text, byte for
// byte, then chaos-epmd's section: its flags, every fault kind of
// faults.Catalogue with syntax, summary and example, and ctl; exit 1 (the C
// epmd's status for them), nothing on stdout.
func TestHelp(t *testing.T) {
	_, _, usage := runBin(t, "-bogus")
	tests := []struct {
		name string
		args []string
	}{
		{name: "-h", args: []string{"-h"}},
		{name: "-help", args: []string{"-help"}},
		{name: "--help", args: []string{"--help"}},
		{name: "after other flags", args: []string{"-d", "-port", "1", "-h"}},
	}
	var first string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runBin(t, tt.args...)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			if first == "" {
				first = stderr
			} else if stderr != first {
				t.Fatalf("help text differs from %q's", tests[0].name)
			}
			rest, ok := strings.CutPrefix(stderr, usage)
			if !ok || !strings.HasPrefix(usage, "usage: epmd [-d|-debug] [DbgExtra...] [-address List]\n") {
				t.Fatalf("stderr does not start with the usage text of a bad argument:\n%s", stderr)
			}
			if want := "\nchaos-epmd: the options above are the C epmd's, with its behaviour.\n"; !strings.HasPrefix(rest, want) {
				t.Fatalf("chaos section starts %q, want %q", rest[:min(len(rest), 80)], want)
			}
		})
	}

	t.Run("C text first", func(t *testing.T) {
		// The usage of a bad argument is the C epmd's, byte for byte.
		cmd := exec.Command(findCEpmd(t), "-h")
		var cErr bytes.Buffer
		cmd.Stderr = &cErr
		if err := cmd.Run(); err == nil {
			t.Fatal("C epmd -h exited 0")
		}
		if usage != cErr.String() {
			t.Fatalf("usage text differs from the C epmd's:\nC:\n%s\nchaos-epmd:\n%s", cErr.String(), usage)
		}
	})

	t.Run("flags and ctl", func(t *testing.T) {
		for _, line := range []string{
			"\nChaos options\n",
			"\n    -fault SPEC\n",
			"\n    -faults-file FILE\n",
			"\n    -seed N\n",
			"\n    -admin HOST:PORT\n",
			"\n    -admin-token TOKEN\n",
			"\n    -log-format c|text|json\n",
			"\n    -for DUR\n",
			"\n    -takeover\n",
			"\n    -handback\n",
			"\nEnvironment (when nobody passes flags: erl, systemd; a flag wins)\n" +
				"    CHAOS_EPMD_FAULTS          -fault, specs separated by \";\" or new lines,\n" +
				"                               installed before those of -fault\n" +
				"                               (phantom=a:1;b:2 keeps its \";\")\n" +
				"    CHAOS_EPMD_FAULTS_FILE     -faults-file\n" +
				"    CHAOS_EPMD_SEED            -seed\n" +
				"    CHAOS_EPMD_ADMIN           -admin\n" +
				"    CHAOS_EPMD_MAX_FAULT_FOR   -max-fault-for\n" +
				"    CHAOS_EPMD_FOR             -for\n" +
				"    CHAOS_EPMD_LOG_FORMAT      -log-format\n" +
				"    CHAOS_EPMD_ADMIN_TOKEN     -admin-token\n",
			"\n    -version\n",
			"\nSelectors (any kind; all optional)\n    req=alive2|port_please|names|dump|kill|stop|accept\n",
			"\n    chaos-epmd ctl [-admin HOST:PORT] [-token TOKEN] COMMAND\n",
		} {
			if !strings.Contains(first, line) {
				t.Errorf("help has no line %q", line)
			}
		}
	})

	t.Run("every fault kind, in catalogue order", func(t *testing.T) {
		kinds := first[strings.Index(first, "\nFault kinds\n"):]
		at := 0
		for _, k := range faults.Catalogue() {
			entry := "\n    " + k.Syntax + "\n        " + k.Summary + "\n        e.g. " + k.Example + "\n"
			i := strings.Index(kinds[at:], entry)
			if i < 0 {
				t.Fatalf("kind %s: no entry %q after the previous kind", k.Name, entry)
			}
			at += i + 1
		}
		if n, want := len(regexp.MustCompile(`(?m)^        e\.g\. `).FindAllString(kinds, -1)), len(faults.Catalogue()); n != want {
			t.Errorf("%d examples in the help, want one per kind: %d", n, want)
		}
	})

	t.Run("usage errors print the C text only", func(t *testing.T) {
		if strings.Contains(usage, "Chaos options") {
			t.Fatalf("a bad argument prints the chaos section:\n%s", usage)
		}
	})
}

// TestVersion: -version prints the module version and the VCS commit that
// go version -m reads from the same binary, on stdout, and exits 0; it is
// a client command, so it must come last.
func TestVersion(t *testing.T) {
	bin := chaosEpmd(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	version, rev, dirty := "", "", false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/chaos-epmd/chaos-epmd":
			version = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[0] == "build" && f[1] == "vcs.modified=true":
			dirty = true
		}
	}
	want := "chaos-epmd " + version
	if rev != "" {
		want += " commit " + rev[:12]
		if dirty {
			want += " (dirty)"
		}
	}
	want += "\n"

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{name: "alone", args: []string{"-version"}, code: 0, stdout: want},
		{name: "after flags", args: []string{"-d", "-port", "1", "-version"}, code: 0, stdout: want},
		{name: "not last", args: []string{"-version", "-d"}, code: 1, stdout: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runBin(t, tt.args...)
			if code != tt.code || stdout != tt.stdout {
				t.Fatalf("exit %d, stdout %q; want %d, %q", code, stdout, tt.code, tt.stdout)
			}
			if wantUsage := tt.code != 0; strings.HasPrefix(stderr, "usage: epmd ") != wantUsage {
				t.Fatalf("stderr %q; want the usage: %v", stderr, wantUsage)
			}
		})
	}
}
