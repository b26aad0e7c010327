package main

import (
	"bytes"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

func env(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want config
		err  error
	}{
		{name: "no arguments", want: config{port: 4369}},
		{name: "suite server", args: []string{"-packet_timeout", "1", "-port", "2243", "-relaxed_command_check"},
			want: config{port: 2243, packetTimeout: time.Second, relaxed: true}},
		{name: "suite names: server flags before client command", args: []string{"-packet_timeout", "1", "-port", "2243", "-names"},
			want: config{act: actNames, port: 2243, packetTimeout: time.Second}},
		{name: "debug repeatable", args: []string{"-d", "-debug", "-d"}, want: config{port: 4369, debug: 3}},
		{name: "delays", args: []string{"-delay_write", "1", "-delay_accept", "2"}, want: config{port: 4369, delayWrite: time.Second, delayAccept: 2 * time.Second}},
		{name: "atoi stops at non-digit", args: []string{"-port", "5000abc"}, want: config{port: 5000}},
		{name: "daemon, systemd, address", args: []string{"-daemon", "-systemd", "-address", "10.0.0.1,::1"}, want: config{port: 4369, daemon: true, systemd: true, address: "10.0.0.1,::1"}},
		{name: "ERL_EPMD_PORT", env: env("ERL_EPMD_PORT", "5000"), want: config{port: 5000}},
		{name: "-port overrides ERL_EPMD_PORT", args: []string{"-port", "6000"}, env: env("ERL_EPMD_PORT", "5000"), want: config{port: 6000}},
		{name: "ERL_EPMD_ADDRESS", env: env("ERL_EPMD_ADDRESS", "10.0.0.2"), want: config{port: 4369, address: "10.0.0.2"}},
		{name: "-address overrides ERL_EPMD_ADDRESS", args: []string{"-address", "10.0.0.3"}, env: env("ERL_EPMD_ADDRESS", "10.0.0.2"), want: config{port: 4369, address: "10.0.0.3"}},
		{name: "empty ERL_EPMD_RELAXED_COMMAND_CHECK counts", env: env("ERL_EPMD_RELAXED_COMMAND_CHECK", ""), want: config{port: 4369, relaxed: true}},
		{name: "stop", args: []string{"-port", "2243", "-stop", "foo"}, want: config{act: actStop, port: 2243, stopName: "foo"}},
		{name: "started", args: []string{"-started"}, want: config{act: actStarted, port: 4369}},
		{name: "dump", args: []string{"-dump"}, want: config{act: actDump, port: 4369}},
		{name: "kill", args: []string{"-kill"}, want: config{act: actKill, port: 4369}},
		{name: "client command not last", args: []string{"-names", "-d"}, err: errUsage},
		{name: "kill not last", args: []string{"-kill", "x"}, err: errUsage},
		{name: "stop without name", args: []string{"-stop"}, err: errUsage},
		{name: "stop with two names", args: []string{"-stop", "a", "b"}, err: errUsage},
		{name: "port 0", args: []string{"-port", "0"}, err: errUsage},
		{name: "port not numeric", args: []string{"-port", "abc"}, err: errUsage},
		{name: "port missing", args: []string{"-port"}, err: errUsage},
		{name: "packet_timeout 0", args: []string{"-packet_timeout", "0"}, err: errUsage},
		{name: "delay_write missing", args: []string{"-delay_write"}, err: errUsage},
		{name: "address missing", args: []string{"-address"}, err: errUsage},
		{name: "unknown option", args: []string{"-frobnicate"}, err: errUsage},
		{name: "double dash", args: []string{"--names"}, err: errUsage},
		{name: "log format json", args: []string{"-d", "-log-format", "json"}, want: config{port: 4369, debug: 1, logFormat: epmd.LogFormatJSON}},
		{name: "log format text, last one counts", args: []string{"-log-format", "json", "-log-format", "text"}, want: config{port: 4369, logFormat: epmd.LogFormatText}},
		{name: "log format c", args: []string{"-log-format", "c"}, want: config{port: 4369, logFormat: epmd.LogFormatC}},
		{name: "log format missing", args: []string{"-log-format"}, err: errUsage},
		{name: "log format unknown", args: []string{"-log-format", "xml"}, err: epmd.ErrLogFormat},
		{name: "-h is help", args: []string{"-h"}, err: errHelp},
		{name: "-help is help", args: []string{"-port", "5000", "-help"}, err: errHelp},
		{name: "--help is help", args: []string{"--help", "-names"}, err: errHelp},
		{name: "help is a usage error", args: []string{"-h"}, err: errUsage},
		{name: "-h as the name of -stop", args: []string{"-stop", "-h"}, want: config{act: actStop, port: 4369, stopName: "-h"}},
		{name: "version", args: []string{"-port", "5000", "-version"}, want: config{act: actVersion, port: 5000}},
		{name: "version not last", args: []string{"-version", "-d"}, err: errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			got, err := parseArgs(tt.args, getenv)
			if !errors.Is(err, tt.err) {
				t.Fatalf("parseArgs(%q) error = %v, want %v", tt.args, err, tt.err)
			}
			if err != nil {
				return
			}
			if *got != tt.want {
				t.Fatalf("parseArgs(%q) =\n %+v, want\n %+v", tt.args, *got, tt.want)
			}
		})
	}
}

// TestRuntimeDefaults: each runtime setting chaos-epmd picks itself
// yields to its environment variable, set to anything.
func TestRuntimeDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		fn   func(func(string) (string, bool)) int
		env  func(string) (string, bool)
		want int
	}{
		{"defaultProcs unset", defaultProcs, env(), 1},
		{"defaultProcs GOMAXPROCS=4", defaultProcs, env("GOMAXPROCS", "4"), 0},
		{"defaultProcs GOMAXPROCS empty", defaultProcs, env("GOMAXPROCS", ""), 0}, // set: the runtime's own rule applies
		{"defaultProcs only GODEBUG", defaultProcs, env("GODEBUG", "x=1"), 1},
		{"defaultGCPercent unset", defaultGCPercent, env(), 50},
		{"defaultGCPercent GOGC=200", defaultGCPercent, env("GOGC", "200"), 0},
		{"defaultGCPercent GOGC=off", defaultGCPercent, env("GOGC", "off"), 0},
		{"defaultGCPercent GOGC empty", defaultGCPercent, env("GOGC", ""), 0}, // set: the runtime's own rule applies
		{"defaultGCPercent only GOMAXPROCS", defaultGCPercent, env("GOMAXPROCS", "2"), 50},
	} {
		if got := tt.fn(tt.env); got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestSetRuntime checks that setRuntime applies both defaults, and leaves
// each alone when the environment sets its variable. It changes the test
// process's settings for a moment, and puts them back.
func TestSetRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	gc := debug.SetGCPercent(100)
	defer func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	}()
	for _, tt := range []struct {
		name      string
		env       func(string) (string, bool)
		wantProcs int
		wantGC    int
	}{
		{"unset", env(), 1, 50},
		{"GOMAXPROCS=3", env("GOMAXPROCS", "3"), 2, 50},
		{"GOGC=200", env("GOGC", "200"), 1, 100},
	} {
		// As the runtime would have set them from the environment.
		runtime.GOMAXPROCS(2)
		debug.SetGCPercent(100)
		setRuntime(tt.env)
		if got := runtime.GOMAXPROCS(0); got != tt.wantProcs {
			t.Errorf("%s: GOMAXPROCS %d, want %d", tt.name, got, tt.wantProcs)
		}
		if got := debug.SetGCPercent(100); got != tt.wantGC {
			t.Errorf("%s: GC percent %d, want %d", tt.name, got, tt.wantGC)
		}
	}
}

func TestAtoi(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"5", 5}, {" 42", 42}, {"+7", 7}, {"-3", -3}, {"12ab", 12}, {"", 0}, {"abc", 0}, {"\t\n9", 9}, {"70000", 70000},
	}
	for _, tt := range tests {
		if got := atoi(tt.in); got != tt.want {
			t.Errorf("atoi(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestUsageGoesToStderrWithExit1(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-bogus"}, env(), &stdout, &stderr); code != 1 {
		t.Fatalf("exit = %d, want 1", code)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout = %q, want nothing", stdout.String())
	}
	if !bytes.HasPrefix(stderr.Bytes(), []byte("usage: epmd [-d|-debug] [DbgExtra...] [-address List]\n")) {
		t.Fatalf("stderr starts %q", stderr.String()[:60])
	}
}

// TestBadLogFormat: a bad -log-format value is named with the valid ones
// before the usage text, exit 1 as for any bad epmd flag.
func TestBadLogFormat(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-d", "-log-format", "yaml"}, env(), &stdout, &stderr); code != 1 {
		t.Fatalf("exit = %d, want 1", code)
	}
	want := "chaos-epmd: -log-format \"yaml\": unknown log format, want c, text or json\nusage: epmd [-d|-debug]"
	if stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), want) {
		t.Fatalf("stdout %q, stderr starts %q; want nothing and %q", stdout.String(), stderr.String()[:min(stderr.Len(), len(want))], want)
	}
}

func TestCannotConnect(t *testing.T) {
	for _, args := range [][]string{{"-port", "1", "-names"}, {"-port", "1", "-kill"}, {"-port", "1", "-stop", "x"}, {"-port", "1", "-dump"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, env(), &stdout, &stderr); code != 1 {
			t.Fatalf("%q: exit = %d, want 1", args, code)
		}
		if stdout.Len() != 0 || stderr.String() != "epmd: Cannot connect to local epmd\n" {
			t.Fatalf("%q: stdout %q stderr %q", args, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-port", "1", "-started"}, env(), &stdout, &stderr); code != 1 || stdout.Len()+stderr.Len() != 0 {
		t.Fatalf("-started: exit %d, stdout %q, stderr %q; want 1 and silence", code, stdout.String(), stderr.String())
	}
}

func TestStopNameTooLong(t *testing.T) {
	var stdout, stderr bytes.Buffer
	long := string(bytes.Repeat([]byte("a"), 1001))
	if code := run([]string{"-stop", long}, env(), &stdout, &stderr); code != 1 || stdout.String() != "epmd: Name too long!" {
		t.Fatalf("exit %d, stdout %q", code, stdout.String())
	}
}

// FuzzParseArgs: any command line (NUL-separated arguments) parses to a
// configuration or to a usage error, never panics, and what parses obeys
// epmd's rules: client commands come last, numbers are non-zero.
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{
		"-packet_timeout\x001\x00-port\x002243\x00-names",
		"-d\x00-d\x00-address\x0010.0.0.1,::1\x00-daemon",
		"-stop\x00foo", "-kill", "-port\x000", "-delay_write\x00abc", "-fault\x00drop,req=alive2",
		"-seed\x0042\x00-admin\x00127.0.0.1:4380", "ctl\x00list", "", "-h", "-d\x00-version",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		c, err := parseArgs(args, env())
		if err != nil {
			return
		}
		if c.act != actServe && c.act != actStop {
			if last := args[len(args)-1]; !strings.HasPrefix(last, "-") {
				t.Fatalf("client command %v parsed from %q not ending in it", c.act, args)
			}
		}
		if c.port == 0 {
			t.Fatalf("port 0 accepted from %q", args)
		}
	})
}
