package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// requireErlang returns the directory of the installed erts binaries. It
// skips the test when Erlang is missing, except under CI=true, where a
// test that did not run must fail.
func requireErlang(t *testing.T) string {
	t.Helper()
	erl, err := exec.LookPath("erl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("erl not installed (make deps installs erlang-base); CI must not skip")
		}
		t.Skip("erl not installed: run make deps")
	}
	out, err := exec.Command(erl, "-noshell", "-eval", `io:format("~s", [code:root_dir()]), halt().`).Output()
	if err != nil {
		t.Fatalf("erl: %v", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(string(out), "erts-*", "bin"))
	if len(dirs) != 1 {
		t.Fatalf("erts bin under %s: %v", out, dirs)
	}
	return dirs[0]
}

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// chaosEpmd builds the command once per test process.
func chaosEpmd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("CHAOS_EPMD_BINARY"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "chaos-epmd-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		binPath = filepath.Join(dir, "chaos-epmd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestErlStartsChaosEpmd installs chaos-epmd as the epmd of a private copy
// of the erts bin directory, lets erl start it by itself (erl runs
// "$BINDIR/epmd -daemon"), and checks two real nodes find each other.
func TestErlStartsChaosEpmd(t *testing.T) {
	ertsBin := requireErlang(t)
	bin := chaosEpmd(t)
	bindir := t.TempDir()
	entries, err := os.ReadDir(ertsBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "epmd" {
			continue
		}
		if err := os.Symlink(filepath.Join(ertsBin, e.Name()), filepath.Join(bindir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bin, filepath.Join(bindir, "epmd")); err != nil {
		t.Fatal(err)
	}
	port := epmdtest.Port(t)
	baseEnv := append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port),
		"ROOTDIR="+filepath.Dir(filepath.Dir(ertsBin)), "BINDIR="+bindir, "EMU=beam", "PROGNAME=erl")
	epmdCLI := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = epmdCLI("-kill") })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := exec.CommandContext(ctx, filepath.Join(bindir, "erlexec"), "-sname", "ra", "-setcookie", "chaos", "-noshell",
		"-eval", `receive stop -> ok end.`)
	a.Env = baseEnv
	var alog bytes.Buffer
	a.Stdout, a.Stderr = &alog, &alog
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	go func() { _ = a.Wait(); close(aDone) }()
	t.Cleanup(func() { _ = a.Process.Kill(); <-aDone })

	// Wait until ra is registered (erl started the daemon and registered).
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := epmdCLI("-names")
		if strings.Contains(out, "name ra at port ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ra never registered; -names said %q; node log %q", out, alog.String())
		}
		select {
		case <-aDone:
			t.Fatalf("node ra exited: %s", alog.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	ps, _ := exec.Command("pgrep", "-af", bindir+"/epmd -daemon").Output()
	if !strings.Contains(string(ps), "-daemon") {
		t.Fatalf("no chaos-epmd started by erl with -daemon; pgrep: %q", ps)
	}

	b := exec.CommandContext(ctx, filepath.Join(bindir, "erlexec"), "-sname", "rb", "-setcookie", "chaos", "-noshell",
		"-eval", `[_, H] = string:split(atom_to_list(node()), "@"), io:format("~p~n", [net_adm:ping(list_to_atom("ra@" ++ H))]), {ok, Names} = erl_epmd:names(), io:format("~p~n", [lists:sort([N || {N, _} <- Names])]), halt().`)
	b.Env = baseEnv
	out, err := b.CombinedOutput()
	if err != nil {
		t.Fatalf("node rb: %v\n%s", err, out)
	}
	if got, want := string(out), "pong\n[\"ra\",\"rb\"]\n"; got != want {
		t.Fatalf("rb printed %q, want %q", got, want)
	}

	names, err := epmdCLI("-names")
	if err != nil || names != fmt.Sprintf("epmd: up and running on port %d with data:\n", port)+namesLine(t, names, "ra") {
		t.Fatalf("-names after rb left: %q, %v", names, err)
	}
	_ = a.Process.Kill()
	<-aDone
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, _ := epmdCLI("-names")
		if out == fmt.Sprintf("epmd: up and running on port %d with data:\n", port) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed node still listed: %q", out)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if out, err := epmdCLI("-kill"); err != nil || out != "Killed\n" {
		t.Fatalf("-kill: %q %v", out, err)
	}
}

// namesLine returns the NAMES line of node name found in out (its port is
// the node's own choice).
func namesLine(t *testing.T, out, name string) string {
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "name "+name+" at port ") {
			return l
		}
	}
	t.Fatalf("no line for %s in %q", name, out)
	return ""
}
