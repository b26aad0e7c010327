package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// specsOf lists the fault specs of a parsed command line, in chain order.
func specsOf(c *config) []string {
	var specs []string
	if c.chaos == nil {
		return nil
	}
	for _, e := range c.chaos.chain {
		if e.knob != "" {
			specs = append(specs, e.knob)
		}
		for _, f := range e.faults {
			specs = append(specs, f.String())
		}
	}
	return specs
}

// TestStagingFlagsAndEnvironment: -takeover, -handback and -for, and the
// chaos flags' environment variables, which the command line overrides.
func TestStagingFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       func(string) (string, bool)
		staging   stagingConfig
		specs     []string
		seed      int64
		admin     string
		maxFor    time.Duration
		logFormat epmd.LogFormat
		act       action
	}{
		{name: "takeover, handback, for in seconds", args: []string{"-takeover", "-handback", "-for", "20"},
			staging: stagingConfig{takeover: true, handback: true, runFor: 20 * time.Second}},
		{name: "for as a Go duration", args: []string{"-for", "1m30s"}, staging: stagingConfig{runFor: 90 * time.Second}},
		{name: "takeover alone", args: []string{"-takeover"}, staging: stagingConfig{takeover: true}},
		{name: "faults from the environment, ; and new lines", env: env("CHAOS_EPMD_FAULTS", "drop,req=names; delay_write=2\nhang,node=a*\n"),
			specs: []string{"drop,req=names", "delay_write=2", "hang,node=a*"}},
		{name: "a ; inside a spec stays", env: env("CHAOS_EPMD_FAULTS", "phantom=ghost:4711;spook:4712;drop,req=names;phantom=2"),
			specs: []string{"phantom=ghost:4711;spook:4712", "drop,req=names", "phantom=2"}},
		{name: "environment faults before command-line faults", args: []string{"-fault", "reset"}, env: env("CHAOS_EPMD_FAULTS", "drop"),
			specs: []string{"drop", "reset"}},
		{name: "every scalar from the environment",
			env: env("CHAOS_EPMD_SEED", "42", "CHAOS_EPMD_ADMIN", "127.0.0.1:4380", "CHAOS_EPMD_FOR", "30",
				"CHAOS_EPMD_MAX_FAULT_FOR", "10m", "CHAOS_EPMD_LOG_FORMAT", "json"),
			staging: stagingConfig{runFor: 30 * time.Second}, seed: 42, admin: "127.0.0.1:4380", maxFor: 10 * time.Minute, logFormat: epmd.LogFormatJSON},
		{name: "the command line wins",
			args: []string{"-seed", "7", "-admin", "127.0.0.1:1", "-for", "5", "-max-fault-for", "1m", "-log-format", "text"},
			env: env("CHAOS_EPMD_SEED", "42", "CHAOS_EPMD_ADMIN", "127.0.0.1:4380", "CHAOS_EPMD_FOR", "30",
				"CHAOS_EPMD_MAX_FAULT_FOR", "10m", "CHAOS_EPMD_LOG_FORMAT", "json"),
			staging: stagingConfig{runFor: 5 * time.Second}, seed: 7, admin: "127.0.0.1:1", maxFor: time.Minute, logFormat: epmd.LogFormatText},
		{name: "empty variables are unset", env: env("CHAOS_EPMD_FAULTS", " ", "CHAOS_EPMD_SEED", "")},
		{name: "a token's variable lets the admin API listen beyond loopback", args: []string{"-admin", "0.0.0.0:4380"},
			env: env("CHAOS_EPMD_ADMIN_TOKEN", "s3cret"), admin: "0.0.0.0:4380"},
		{name: "a token flag too", args: []string{"-admin", "[::]:4380", "-admin-token", "s3cret"}, admin: "[::]:4380"},
		{name: "a port by its service name", args: []string{"-admin", "localhost:http"}, admin: "localhost:http"},
		{name: "a client command ignores a bad variable", args: []string{"-names"}, env: env("CHAOS_EPMD_SEED", "x"), act: actNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			c, err := parseArgs(tt.args, getenv)
			if err != nil {
				t.Fatal(err)
			}
			var seed int64
			var admin string
			var maxFor time.Duration
			if c.chaos != nil {
				seed, admin, maxFor = c.chaos.seed, c.chaos.admin, c.chaos.maxFaultFor
			}
			got := []any{c.act, c.staging, strings.Join(specsOf(c), " "), seed, admin, maxFor, c.logFormat}
			want := []any{tt.act, tt.staging, strings.Join(tt.specs, " "), tt.seed, tt.admin, tt.maxFor, tt.logFormat}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("act, staging, specs, seed, admin, max-fault-for, log format =\n %v\nwant\n %v", got, want)
				}
			}
		})
	}
}

// kindNames lists the fault kinds as a bad kind's error does.
func kindNames() string {
	var names []string
	for _, k := range faults.Catalogue() {
		names = append(names, k.Name)
	}
	return strings.Join(names, "|")
}

// TestStagingErrors: each bad flag or variable is named on the first line,
// before the usage text, exit 1.
func TestStagingErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want string
	}{
		{name: "handback alone", args: []string{"-handback"},
			want: "chaos-epmd: -handback: needs -takeover (it hands back the epmd taken over)"},
		{name: "takeover with systemd", args: []string{"-takeover", "-systemd"},
			want: "chaos-epmd: -takeover: cannot be used with -systemd (systemd gives the sockets)"},
		{name: "for not a duration", args: []string{"-for", "soon"},
			want: `chaos-epmd: -for "soon": want seconds (600) or a Go duration (10m), more than 0`},
		{name: "for zero", args: []string{"-for", "0"},
			want: `chaos-epmd: -for "0": want seconds (600) or a Go duration (10m), more than 0`},
		{name: "bad seed variable", env: env("CHAOS_EPMD_SEED", "x"),
			want: `chaos-epmd: CHAOS_EPMD_SEED "x": want an integer`},
		{name: "bad fault in the list", env: env("CHAOS_EPMD_FAULTS", "drop;bogus"),
			want: `chaos-epmd: CHAOS_EPMD_FAULTS "bogus": fault "bogus": kind: unknown fault "bogus"; want ` + kindNames()},
		{name: "bad for variable", env: env("CHAOS_EPMD_FOR", "-1"),
			want: `chaos-epmd: CHAOS_EPMD_FOR "-1": want seconds (600) or a Go duration (10m), more than 0`},
		{name: "bad log format variable", env: env("CHAOS_EPMD_LOG_FORMAT", "xml"),
			want: `chaos-epmd: CHAOS_EPMD_LOG_FORMAT "xml": unknown log format, want c, text or json`},
		{name: "admin address without a host", args: []string{"-admin", "15417"},
			want: `chaos-epmd: -admin "15417": want HOST:PORT (127.0.0.1:4380, [::1]:0)`},
		{name: "admin variable with an unknown port", env: env("CHAOS_EPMD_ADMIN", "localhost:nosuchport"),
			want: `chaos-epmd: CHAOS_EPMD_ADMIN "localhost:nosuchport": want HOST:PORT (127.0.0.1:4380, [::1]:0)`},
		{name: "admin beyond loopback without a token", args: []string{"-admin", "[::]:4380"},
			want: `chaos-epmd: -admin "[::]:4380": not a loopback address; set a token (-admin-token or CHAOS_EPMD_ADMIN_TOKEN) to serve it`},
		{name: "admin variable beyond loopback without a token", env: env("CHAOS_EPMD_ADMIN", "0.0.0.0:4380", "CHAOS_EPMD_ADMIN_TOKEN", ""),
			want: `chaos-epmd: CHAOS_EPMD_ADMIN "0.0.0.0:4380": not a loopback address; set a token (-admin-token or CHAOS_EPMD_ADMIN_TOKEN) to serve it`},
		{name: "the flag's value is named, not the variable's", args: []string{"-admin", "x"}, env: env("CHAOS_EPMD_ADMIN", "127.0.0.1:4380"),
			want: `chaos-epmd: -admin "x": want HOST:PORT (127.0.0.1:4380, [::1]:0)`},
		{name: "missing faults file", env: env("CHAOS_EPMD_FAULTS_FILE", "/nonexistent/faults"),
			want: `chaos-epmd: CHAOS_EPMD_FAULTS_FILE "/nonexistent/faults": open /nonexistent/faults: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, getenv, &stdout, &stderr)
			first, rest, _ := strings.Cut(stderr.String(), "\n")
			if code != 1 || stdout.Len() != 0 || first != tt.want || !strings.HasPrefix(rest, "usage: epmd ") {
				t.Fatalf("exit %d, stdout %q, stderr %.200q; want exit 1, nothing, %q then the usage", code, stdout.String(), stderr.String(), tt.want)
			}
		})
	}
}
