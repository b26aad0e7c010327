package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// ctlUsageHead is the first line of ctl's usage text.
const ctlUsageHead = "usage: chaos-epmd ctl [-admin HOST:PORT] [-token TOKEN] COMMAND\n"

// TestCtl runs chaos-epmd ctl against an admin API served in the test,
// each case with the faults of installed already installed, and checks
// its exit status, stdout, stderr and the faults installed afterwards.
func TestCtl(t *testing.T) {
	bin := chaosEpmd(t)
	for _, tt := range []struct {
		name       string
		installed  []string
		maxFor     time.Duration
		args       []string
		wantExit   int
		wantStdout string
		wantStderr string // exact; or, when it ends with the usage head, the line before the usage
		wantSpecs  []string
	}{
		{name: "list with nothing installed", args: []string{"list"}, wantStdout: "ID  FIRED  ENDS  SPEC\n"},
		{name: "list", installed: []string{"drop,req=names", "hang,node=a*,for=1ms"}, args: []string{"list"},
			wantStdout: "ID  FIRED  ENDS   SPEC\n1   0      -      drop,req=names\n2   0      ended  hang,node=a*,for=1ms\n",
			wantSpecs:  []string{"drop,req=names", "hang,node=a*,for=1ms"}},
		{name: "list extra", args: []string{"list", "extra"}, wantExit: 1,
			wantStderr: "chaos-epmd ctl list: takes no arguments; got \"extra\"\n" + ctlUsageHead},
		{name: "add several", args: []string{"add", "drop,req=names", "delay_write=1,for=30"},
			wantStdout: "1\tdrop,req=names\n2\tdelay_write=1,for=30\n", wantSpecs: []string{"drop,req=names", "delay_write=1,for=30"}},
		{name: "add is all or none", installed: []string{"hang,req=names"}, args: []string{"add", "drop", "bogus"}, wantExit: 1,
			wantStderr: `chaos-epmd ctl add: fault "bogus": kind: unknown fault "bogus"; want ` + strings.Join(faults.Kinds(), "|") + "; none installed\n",
			wantSpecs:  []string{"hang,req=names"}},
		{name: "add one bad spec", args: []string{"add", "delay_write=" + strings.Repeat("x", 300)}, wantExit: 1,
			wantStderr: `chaos-epmd ctl add: fault "delay_write=` + strings.Repeat("x", 300) + `": duration: want seconds (5) or a Go duration (200ms)` + "\n"},
		{name: "add under -max-fault-for", maxFor: 10 * time.Minute, args: []string{"add", "drop,req=names", "hang,for=5"},
			wantStdout: "1\tdrop,req=names,for=600\t(for= capped by -max-fault-for)\n2\thang,for=5\n",
			wantSpecs:  []string{"drop,req=names,for=600", "hang,for=5"}},
		{name: "add without specs", args: []string{"add"}, wantExit: 1,
			wantStderr: "chaos-epmd ctl add: want one or more fault specs\n" + ctlUsageHead},
		{name: "rm", installed: []string{"drop", "hang"}, args: []string{"rm", "1"}, wantSpecs: []string{"hang"}},
		{name: "rm unknown", args: []string{"rm", "9"}, wantExit: 1, wantStderr: "chaos-epmd ctl rm: 9: admin: no such fault\n"},
		{name: "clear", installed: []string{"drop", "hang"}, args: []string{"clear"}},
		{name: "events with a bad -since", args: []string{"events", "-since", "abc"}, wantExit: 1,
			wantStderr: "chaos-epmd ctl events: invalid value \"abc\" for flag -since: want an event's seq (a whole number; 0 for all kept events)\n" + ctlUsageHead},
		{name: "events extra", args: []string{"events", "now"}, wantExit: 1,
			wantStderr: "chaos-epmd ctl events: unexpected argument \"now\"\n" + ctlUsageHead},
		{name: "events returns", args: []string{"events", "-since", "0"}},
		{name: "stop without a stop hook", args: []string{"stop"}, wantExit: 1,
			wantStderr: "chaos-epmd ctl stop: admin: stop: not enabled on this server (HTTP 501)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inj := faults.NewInjector(1, nil)
			defer inj.Close()
			for _, s := range tt.installed {
				if _, err := inj.AddSpec(s); err != nil {
					t.Fatal(err)
				}
			}
			inj.SetMaxFor(tt.maxFor)
			addr := serveAdmin(t, &faults.Admin{Injector: inj})
			stdout, stderr, exit := runCtl(t, bin, addr, tt.args...)
			if exit != tt.wantExit || stdout != tt.wantStdout {
				t.Errorf("ctl %q: exit %d, stdout %q; want %d, %q (stderr %q)", tt.args, exit, stdout, tt.wantExit, tt.wantStdout, stderr)
			}
			if first, _, _ := strings.Cut(tt.wantStderr, "\n"); strings.HasSuffix(tt.wantStderr, ctlUsageHead) {
				if !strings.HasPrefix(stderr, first+"\n"+ctlUsageHead) {
					t.Errorf("stderr %q, want %q then the usage", stderr, first)
				}
			} else if stderr != tt.wantStderr {
				t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
			}
			var specs []string
			for _, f := range inj.Faults() {
				specs = append(specs, f.Spec)
			}
			if strings.Join(specs, " ") != strings.Join(tt.wantSpecs, " ") {
				t.Errorf("installed after: %q, want %q", specs, tt.wantSpecs)
			}
		})
	}
}

// TestCtlStop: ctl stop reaches the admin API's OnStop.
func TestCtlStop(t *testing.T) {
	stopped := make(chan struct{})
	addr := serveAdmin(t, &faults.Admin{Injector: faults.NewInjector(1, nil), OnStop: func() { close(stopped) }})
	stdout, stderr, exit := runCtl(t, chaosEpmd(t), addr, "stop")
	if exit != 0 || stdout != "" || stderr != "" {
		t.Fatalf("ctl stop: exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("OnStop not called within 10 s")
	}
}

// TestCtlAtTheEpmdPort: ctl aimed at an epmd port says what is wrong.
func TestCtlAtTheEpmdPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &epmd.Server{}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	addr := l.Addr().String()
	_, stderr, exit := runCtl(t, chaosEpmd(t), addr, "list")
	want := "chaos-epmd ctl list: admin GET /faults: " + addr + " did not answer HTTP: is it the admin address (-admin), not the epmd port?\n"
	if exit != 1 || stderr != want {
		t.Errorf("ctl at the epmd port: exit %d, stderr %q; want 1, %q", exit, stderr, want)
	}
}

// runCtl runs bin ctl -admin addr args and returns its stdout, stderr and
// exit status.
func runCtl(t *testing.T, bin, addr string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"ctl", "-admin", addr}, args...)...)
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
	t.Fatalf("ctl %q: %v", args, err)
	return "", "", 0
}

// TestMaxFaultForFlag: -max-fault-for caps the command line's faults and
// those added through ctl; a bad value is named, with the usage, exit 1.
func TestMaxFaultForFlag(t *testing.T) {
	bin := chaosEpmd(t)
	admin := "127.0.0.1:" + strconv.Itoa(epmdtest.Port(t))
	startChaos(t, "-max-fault-for", "10m", "-fault", "drop,req=names,for=1h", "-admin", admin)
	if out, stderr, exit := runCtl(t, bin, admin, "add", "hang,req=port_please,node=x*", "reset,req=dump,for=5"); exit != 0 ||
		out != "2\thang,req=port_please,node=x*,for=600\t(for= capped by -max-fault-for)\n3\treset,req=dump,for=5\n" {
		t.Errorf("ctl add: exit %d, stdout %q, stderr %q", exit, out, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := (&faults.Client{URL: "http://" + admin}).Faults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range list {
		got = append(got, fmt.Sprintf("%s capped=%v window=%v", f.Spec, f.Capped, f.Until.Sub(f.Added)))
	}
	want := []string{"drop,req=names,for=600 capped=true window=10m0s",
		"hang,req=port_please,node=x*,for=600 capped=true window=10m0s", "reset,req=dump,for=5 capped=false window=5s"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("GET /faults:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	cmd := exec.Command(bin, "-max-fault-for", "soon")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	first, rest, _ := strings.Cut(stderr.String(), "\n")
	if !errors.As(err, &ee) || ee.ExitCode() != 1 ||
		first != `chaos-epmd: -max-fault-for "soon": want seconds (600) or a Go duration (10m), more than 0` ||
		!strings.HasPrefix(rest, "usage: epmd ") {
		t.Errorf("-max-fault-for soon: %v\n%s", err, stderr.String())
	}
}

// TestCtlStopEndsTheDaemon: ctl stop ends a running chaos-epmd with
// status 0, as SIGTERM does, and its registrations end with it.
func TestCtlStopEndsTheDaemon(t *testing.T) {
	bin := chaosEpmd(t)
	port, admin := epmdtest.Port(t), "127.0.0.1:"+strconv.Itoa(epmdtest.Port(t))
	cmd := exec.Command(bin, "-admin", admin)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ec := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: time.Second}
	var reg *epmd.Registration
	for reg == nil {
		var err error
		if reg, err = ec.Register(ctx, &epmd.Alive2Req{Name: "s1", PortNo: 4000, HighVsn: 6, LowVsn: 5}); err != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("chaos-epmd not answering: %v\n%s", err, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if out, errOut, exit := runCtl(t, bin, admin, "stop"); exit != 0 || out != "" || errOut != "" {
		t.Fatalf("ctl stop: exit %d, stdout %q, stderr %q", exit, out, errOut)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("chaos-epmd after ctl stop: %v, want exit status 0\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("chaos-epmd still running after ctl stop\n%s", stderr.String())
	}
	select {
	case <-reg.Done():
	case <-ctx.Done():
		t.Error("registration still open after the daemon ended")
	}
}
