package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// e2eReady bounds how long a started chaos-epmd may take to answer.
const e2eReady = 15 * time.Second

// startChaos runs the built chaos-epmd with args on a free loopback port
// (ERL_EPMD_PORT) until the test ends, and returns the port once it
// answers NAMES.
func startChaos(t *testing.T, args ...string) (int, *bytes.Buffer) {
	t.Helper()
	bin := chaosEpmd(t)
	port := epmdtest.Port(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: time.Second}
	deadline := time.Now().Add(e2eReady)
	for {
		conn, err := cl.Dial(context.Background())
		if err == nil {
			conn.Close()
			return port, &stderr
		}
		select {
		case <-done:
			t.Fatalf("chaos-epmd %q exited: %s", args, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chaos-epmd %q not answering after %v", args, e2eReady)
		}
	}
}

// rawRequest sends one request and returns what came back until the close,
// and the read error (nil at a clean EOF).
func rawRequest(t *testing.T, port int, m epmd.Message) ([]byte, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(epmd.AppendFrame(nil, m)); err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(conn)
}

// TestE2EDelayWrite: -fault delay_write=1 makes a PORT_PLEASE2 reply take
// at least 1 s; a plain chaos-epmd answers at once.
func TestE2EDelayWrite(t *testing.T) {
	slow, _ := startChaos(t, "-fault", "delay_write=1")
	plain, _ := startChaos(t)
	for _, tt := range []struct {
		name     string
		port     int
		min, max time.Duration
	}{
		{name: "delay_write=1", port: slow, min: time.Second, max: 10 * time.Second},
		{name: "no fault", port: plain, min: 0, max: 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := rawRequest(t, tt.port, &epmd.PortPlease2Req{Name: "nobody"})
			took := time.Since(start)
			if err != nil || string(got) != "w\x01" {
				t.Fatalf("reply %q, %v; want w 01", got, err)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("reply took %v, want %v to %v", took, tt.min, tt.max)
			}
			t.Logf("%s: PORT_PLEASE2 reply %q after %v", tt.name, got, took.Round(time.Millisecond))
		})
	}
}

// TestE2ENegativeDelays: -delay_write and -delay_accept of -1 or 2^31 do
// not delay (a README deviation: the C epmd's sleep() takes them as
// unsigned and in effect hangs).
func TestE2ENegativeDelays(t *testing.T) {
	for _, args := range [][]string{
		{"-delay_write", "-1"},
		{"-delay_write", "2147483648"},
		{"-delay_accept", "-1"},
		{"-delay_accept", "2147483648"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			port, _ := startChaos(t, args...)
			start := time.Now()
			got, err := rawRequest(t, port, &epmd.PortPlease2Req{Name: "nobody"})
			if took := time.Since(start); err != nil || string(got) != "w\x01" || took > 500*time.Millisecond {
				t.Errorf("PORT_PLEASE2: %q, %v after %v; want w 01 at once", got, err, took)
			}
		})
	}
}

// TestE2EPartialWrite: -fault partial_write=3,req=port_please returns
// exactly 3 bytes, then closes; the registration it looked up stays.
func TestE2EPartialWrite(t *testing.T) {
	port, _ := startChaos(t, "-fault", "partial_write=3,req=port_please")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	reg, err := cl.Register(ctx, &epmd.Alive2Req{Name: "a1", PortNo: 4000, NodeType: 77, HighVsn: 6, LowVsn: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	got, err := rawRequest(t, port, &epmd.PortPlease2Req{Name: "a1"})
	if err != nil || string(got) != "w\x00\x0f" {
		t.Fatalf("PORT_PLEASE2 a1: %q, %v; want exactly w 00 0f then EOF", got, err)
	}
	t.Logf("PORT_PLEASE2 a1: %d bytes %q, then EOF", len(got), got)
	_, names, err := cl.Names(ctx)
	if err != nil || len(names) != 1 || names[0].Name != "a1" {
		t.Errorf("NAMES = %v, %v; want a1 still registered", names, err)
	}
}

// TestE2EReset: -fault reset,req=names closes with a real TCP RST.
func TestE2EReset(t *testing.T) {
	port, _ := startChaos(t, "-fault", "reset,req=names")
	got, err := rawRequest(t, port, &epmd.NamesReq{})
	if len(got) != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("NAMES: %q, %v; want nothing and ECONNRESET", got, err)
	}
}

// TestE2EDropAtAccept: drop,req=accept closes before reading anything, so
// what the client sees depends on whether its request got there first. A
// client that has sent nothing reads the end of the stream (FIN). A request
// already in the socket (-delay_accept 1 holds the accept until it is) is
// data the close leaves unread, and the kernel answers with a RST: what
// OTP's clients, which send as soon as they connect, mostly get.
func TestE2EDropAtAccept(t *testing.T) {
	t.Run("nothing sent", func(t *testing.T) {
		port, _ := startChaos(t, "-fault", "drop,req=accept")
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(conn)
		if len(got) != 0 || err != nil {
			t.Errorf("read %q, %v; want nothing and a clean end of stream", got, err)
		}
	})
	t.Run("request arrived first", func(t *testing.T) {
		port, _ := startChaos(t, "-delay_accept", "1", "-fault", "drop,req=accept")
		got, err := rawRequest(t, port, &epmd.NamesReq{})
		if len(got) != 0 || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("NAMES: %q, %v; want nothing and ECONNRESET", got, err)
		}
	})
}

// TestE2ENameInUseErl: -fault name_in_use,node=a* makes erl -sname a1 fail
// with OTP's "seems to be in use" error, while b1 starts.
func TestE2ENameInUseErl(t *testing.T) {
	requireErlang(t)
	port, _ := startChaos(t, "-fault", "name_in_use,node=a*")
	erl := func(name string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "erl", "-sname", name, "-setcookie", "chaos", "-noshell",
			"-eval", `io:format("started ~s~n", [node()]), halt().`)
		cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := erl("a1")
	if err == nil || !strings.Contains(out, "the name a1@") || !strings.Contains(out, "seems to be in use by another Erlang node") {
		t.Errorf("erl -sname a1: %v\n%s\nwant a failure saying the name seems to be in use", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "seems to be in use") {
			t.Logf("erl -sname a1 (exit %v): %s", err, strings.TrimSpace(l))
		}
	}
	out, err = erl("b1")
	if err != nil || !strings.HasPrefix(out, "started b1@") {
		t.Errorf("erl -sname b1: %v\n%s\nwant it to start", err, out)
	}
	t.Logf("erl -sname b1: %s", strings.TrimSpace(out))
}

// TestE2EControl: with -admin, ctl add → the fault fires → its event is
// seen → ctl rm → gone, and no registration is lost.
func TestE2EControl(t *testing.T) {
	adminPort := epmdtest.Port(t)
	admin := "127.0.0.1:" + strconv.Itoa(adminPort)
	port, _ := startChaos(t, "-admin", admin, "-seed", "7")
	bin := chaosEpmd(t)
	ctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"ctl", "-admin", admin}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ctl %q: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	reg, err := cl.Register(ctx, &epmd.Alive2Req{Name: "a1", PortNo: 4000, NodeType: 77, HighVsn: 6, LowVsn: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	if out := ctl("add", "drop,req=port_please,node=a*"); out != "1\tdrop,req=port_please,node=a*\n" {
		t.Fatalf("ctl add: %q", out)
	}
	if got, err := rawRequest(t, port, &epmd.PortPlease2Req{Name: "a1"}); len(got) != 0 || err != nil {
		t.Errorf("PORT_PLEASE2 a1 with drop: %q, %v; want closed without reply", got, err)
	}
	events := ctl("events")
	var fired bool
	for _, l := range strings.Split(strings.TrimSpace(events), "\n") {
		if strings.Contains(l, `"type":"fault"`) && strings.Contains(l, `"kind":"drop"`) &&
			strings.Contains(l, `"req":"port_please"`) && strings.Contains(l, `"node":"a1"`) {
			fired = true
			t.Logf("event: %s", l)
		}
	}
	if !fired {
		t.Errorf("ctl events shows no drop event:\n%s", events)
	}
	if out := ctl("list"); out != "ID  FIRED  ENDS  SPEC\n1   1      -     drop,req=port_please,node=a*\n" {
		t.Errorf("ctl list: %q", out)
	}
	ctl("rm", "1")
	if out := ctl("list"); out != "ID  FIRED  ENDS  SPEC\n" {
		t.Errorf("ctl list after rm: %q", out)
	}
	if p, err := cl.PortPlease(ctx, "a1"); err != nil || p.PortNo != 4000 {
		t.Errorf("PORT_PLEASE2 a1 after rm: %+v, %v", p, err)
	}
	if out := ctl("nodes"); !strings.Contains(out, `"name": "a1"`) {
		t.Errorf("ctl nodes: %s", out)
	}
	select {
	case <-reg.Done():
		t.Error("registration lost")
	default:
	}
	m := ctl("metrics")
	if !strings.Contains(m, `chaos_epmd_faults_fired_total{kind="drop"} 1`) || !strings.Contains(m, "chaos_epmd_registered_nodes 1") {
		t.Errorf("ctl metrics:\n%s", m)
	}
	// The Go client sees the same.
	ac := &faults.Client{URL: "http://" + admin}
	if list, err := ac.Faults(ctx); err != nil || len(list) != 0 {
		t.Errorf("client Faults = %v, %v", list, err)
	}
}

// TestE2EBadSpec: a bad -fault prints the reason and epmd's usage on
// stderr and exits 1.
func TestE2EBadSpec(t *testing.T) {
	cmd := exec.Command(chaosEpmd(t), "-fault", "delay_write=abc")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	first, rest, _ := strings.Cut(stderr.String(), "\n")
	if want := `chaos-epmd: -fault "delay_write=abc": duration: want seconds (5) or a Go duration (200ms)`; first != want {
		t.Errorf("stderr first line %q, want %q", first, want)
	}
	if !strings.HasPrefix(rest, "usage: epmd ") || stdout.Len() != 0 {
		t.Errorf("want the usage on stderr and nothing on stdout; stderr %q stdout %q", rest, stdout.String())
	}
}

// TestE2EDaemonAdminPortTaken: with -daemon the child's stderr is
// /dev/null and its log syslog; when its admin API cannot listen, the
// parent prints why and exits 1, and the child serves nothing.
func TestE2EDaemonAdminPortTaken(t *testing.T) {
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := epmdtest.Port(t)
	cmd := exec.Command(chaosEpmd(t), "-daemon", "-port", strconv.Itoa(port), "-admin", held.Addr().String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	want := fmt.Sprintf("chaos-epmd: -admin %q: listen tcp %s: bind: address already in use\n", held.Addr(), held.Addr())
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("exit %v, stderr %q, stdout %q; want status 1, stderr %q", err, stderr.String(), stdout.String(), want)
	}
	if c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		c.Close()
		t.Fatalf("port %d answers: the child serves without its admin API", port)
	}
}

// TestE2EAdminNeedsToken: a non-loopback -admin without a token is refused
// at start.
func TestE2EAdminNeedsToken(t *testing.T) {
	cmd := exec.Command(chaosEpmd(t), "-admin", "0.0.0.0:"+strconv.Itoa(epmdtest.Port(t)))
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(epmdtest.Port(t)))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "not a loopback address; set a token") {
		t.Errorf("exit %v, output %q", err, out)
	}
}
