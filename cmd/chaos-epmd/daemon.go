package main

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// daemonReadyTimeout bounds how long the -daemon parent waits for its child
// to be listening before it exits.
const daemonReadyTimeout = 5 * time.Second

// daemonize starts this program again as a detached child (new session,
// working directory /, umask 0, standard streams on /dev/null) and exits 0,
// as epmd -daemon does after its double fork. Unlike the C epmd's parent,
// it first waits until the child listens (or has given up), so that erl,
// which registers right after starting epmd, never races it. When the
// child cannot start what only chaos-epmd has (its admin API, -takeover),
// the parent prints why on stderr and exits 1: the child's own stderr is
// /dev/null and its log syslog. Where the C epmd's child gives up (the
// port taken, an address it cannot listen on), it exits 0 as that does.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 1
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 1
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0] // ps shows the daemon as it was called (…/epmd -daemon)
	cmd.Env = append(os.Environ(), envDaemonChild+"=3")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	old := syscall.Umask(0)
	err = cmd.Start()
	syscall.Umask(old)
	w.Close()
	if err != nil {
		return 1
	}
	_ = cmd.Process.Release()
	_ = r.SetReadDeadline(time.Now().Add(daemonReadyTimeout))
	b, _ := io.ReadAll(r)
	if len(b) == 0 || b[0] == 0 {
		return 0
	}
	if len(b) > 1 {
		fmt.Fprintf(stderr, "%s\n", b[1:])
	}
	return int(b[0])
}

// daemonReady tells a waiting -daemon parent that the child is listening
// (status 0), or gave up and with what exit status and message for the
// parent to print; then it forgets the pipe.
func daemonReady(status byte, msg string) {
	v, ok := os.LookupEnv(envDaemonChild)
	if !ok {
		return
	}
	os.Unsetenv(envDaemonChild)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "daemon-ready")
	_, _ = f.Write(append([]byte{status}, msg...))
	_ = f.Close()
}

// newLogger returns the server's logger in the -log-format: on stderr, or,
// for a daemon, on syslog (the C format then without the time stamp), as
// the C epmd does.
func newLogger(c *config, stderr io.Writer) (*slog.Logger, func()) {
	if c.daemon {
		w, err := syslog.New(syslog.LOG_ERR|syslog.LOG_DAEMON, "epmd")
		if err != nil {
			return slog.New(slog.DiscardHandler), func() {}
		}
		h := epmd.NewLogHandler(w, c.debug, c.logFormat)
		if dh, ok := h.(*epmd.DebugHandler); ok {
			dh.Syslog = true
		}
		return slog.New(h), func() { _ = w.Close() }
	}
	return slog.New(epmd.NewLogHandler(stderr, c.debug, c.logFormat)), func() {}
}
