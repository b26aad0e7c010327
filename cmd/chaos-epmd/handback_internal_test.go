package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestRestartEpmdChecksTheHolder: when another process has bound the port
// in the moment it was free, its NAMES answers do not count as the
// restarted epmd's: restartEpmd names the holder instead of claiming the
// restart worked. (Here the "epmd" restarted is a sleep that never binds
// and the port is this test's own epmd.Server.)
func TestRestartEpmdChecksTheHolder(t *testing.T) {
	port := epmdtest.Port(t)
	l, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &epmd.Server{Port: port, Registry: &epmd.MemRegistry{}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })

	cmdline, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	me := fmt.Sprintf("pid %d (%s)", os.Getpid(), commandLine(strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"), ""))
	sleep := &epmdProcess{Exe: "/bin/sleep", Args: []string{"sleep", "0.7"}}
	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: time.Second}
	err = restartEpmd(context.Background(), realProc, sleep, port, cl)
	want := fmt.Sprintf("it exited (exit status 0): port %d is held by %s, not by the epmd restarted", port, me)
	if err == nil || err.Error() != want {
		t.Fatalf("restartEpmd = %v\nwant %s", err, want)
	}
}
