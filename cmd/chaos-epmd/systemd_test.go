package main_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestSystemdSocketActivation passes a listening socket as fd 3 the way
// systemd does (LISTEN_PID, LISTEN_FDS), and checks the READY
// notification, that NAMES reports the configured port rather than the
// socket's, and the exit notification after KILL.
func TestSystemdSocketActivation(t *testing.T) {
	bin := chaosEpmd(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer f.Close()
	sock := filepath.Join(t.TempDir(), "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -systemd`, bin)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.ExtraFiles = []*os.File{f}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	read := func() string {
		t.Helper()
		buf := make([]byte, 512)
		_ = notify.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v (stderr %q)", err, stderr.String())
		}
		return string(buf[:n])
	}
	if got, want := read(), "READY=1\nSTATUS=Processing port mapping requests...\nMAINPID="; !strings.HasPrefix(got, want) {
		t.Fatalf("notification %q, want prefix %q", got, want)
	}
	cl := &epmd.Client{Addr: l.Addr().String(), Timeout: 5 * time.Second}
	reply, err := cl.Request(t.Context(), &epmd.NamesReq{})
	if err != nil || len(reply) != 4 || binary.BigEndian.Uint32(reply) != 4369 {
		t.Fatalf("NAMES through the systemd socket = % x, %v; want the configured port 4369", reply, err)
	}
	if answer, err := cl.Kill(t.Context()); err != nil || answer != "OK" {
		t.Fatalf("KILL = %q, %v", answer, err)
	}
	if got := read(); got != "STATUS=Exited.\nERRNO=0" {
		t.Fatalf("exit notification %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after KILL")
	}
}

// TestSystemdWithoutSockets: -systemd with no sockets passed fails as the
// C epmd does.
func TestSystemdWithoutSockets(t *testing.T) {
	bin := chaosEpmd(t)
	cmd := exec.Command(bin, "-systemd")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=", "LISTEN_PID=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.HasSuffix(string(out), ": systemd provides no sockets\r\n") {
		t.Fatalf("exit %v, output %q; want status 1 and \"systemd provides no sockets\"", err, out)
	}
}
