package main_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestSIGTERMEndsServer: SIGTERM stops the daemon with status 0, closing
// every registration's connection (the goroutine side is checked in-process
// by epmd's TestHostileShutdownLeavesNothing: SIGTERM calls the same Close).
func TestSIGTERMEndsServer(t *testing.T) {
	bin := chaosEpmd(t)
	port := epmdtest.Port(t)
	cmd := exec.Command(bin, "-port", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: 5 * time.Second}
	var regs []*epmd.Registration
	deadline := time.Now().Add(10 * time.Second)
	for len(regs) < 3 {
		r, err := cl.Register(context.Background(), &epmd.Alive2Req{PortNo: 4711, HighVsn: 6, LowVsn: 5, Name: "sig" + strconv.Itoa(len(regs))})
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // polling interval while the daemon starts
				continue
			}
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("still running 10 s after SIGTERM")
	}
	for _, r := range regs {
		select {
		case <-r.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a registration connection outlived the daemon")
		}
	}
}
