package faults_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestHoldPorts binds the range while the fault is installed (real
// sockets) and frees it on removal.
func TestHoldPorts(t *testing.T) {
	// Two ports free on every address, as hold_ports binds them, reserved
	// for this test: from below the ephemeral range, where only an explicit
	// bind takes a port (one in the range may be another connection's local
	// port on another address, which makes the fault skip it yet leaves
	// 127.0.0.1 free), and never probed by binding, which would take a port
	// another test reserved from under its epmd.
	lo := epmdtest.Ports(t, 2)
	logs := &logRecorder{}
	inj := faults.NewInjector(1, slog.New(logs))
	info, err := inj.AddSpec("hold_ports=" + strconv.Itoa(lo) + "-" + strconv.Itoa(lo+1))
	if err != nil {
		t.Fatal(err)
	}
	if got := logs.matching("hold_ports: port not held"); len(got) != 0 {
		// Another process bound one of them since they were reserved: say so
		// rather than report a fault that does not hold.
		t.Fatalf("ports %d-%d taken by another process meanwhile: %q", lo, lo+1, got)
	}
	for _, p := range []int{lo, lo + 1} {
		for _, addr := range []string{"127.0.0.1:", ":"} {
			l, err := net.Listen("tcp", addr+strconv.Itoa(p))
			if err == nil {
				l.Close()
				t.Errorf("%s%d free while held", addr, p)
			} else if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("listen %s%d while held: %v, want EADDRINUSE", addr, p, err)
			}
		}
	}
	// The held ports are plain TCP listeners, as the epmd's own: a client
	// asking for Multipath TCP gets plain TCP.
	if mp, err := epmdtest.DialMultipath(t, "127.0.0.1:"+strconv.Itoa(lo)); mp || err != nil {
		t.Errorf("a client asking for MPTCP to held port %d: MultipathTCP() = %v, %v; want false, nil", lo, mp, err)
	}
	inj.Remove(info.ID)
	for _, p := range []int{lo, lo + 1} {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d still held after remove: %v", p, err)
			continue
		}
		l.Close()
	}
}

// TestHoldPortsTakesPortWhenFreed: a port bound on another local address
// (here a listener on 127.0.0.2) cannot be held on every address; the
// fault logs so, leaves 127.0.0.1 free meanwhile, and takes the port once
// the other socket is closed. This is how TestHoldPorts once failed on a
// shared machine, with a port from the ephemeral range in use on another
// address; and how a RabbitMQ CLI once found a port of its range free: a
// connection's local port when the fault was added, closed during the
// spec.
func TestHoldPortsTakesPortWhenFreed(t *testing.T) {
	// Not a port from the ephemeral range: another process's connect could
	// take it once the other listener closes (epmdtest.Port).
	p := epmdtest.Port(t)
	other, err := net.Listen("tcp4", "127.0.0.2:"+strconv.Itoa(p))
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer other.Close()
	logs := &logRecorder{}
	inj := faults.NewInjector(1, slog.New(logs))
	spec := "hold_ports=" + strconv.Itoa(p)
	info, err := inj.AddSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer inj.Remove(info.ID)
	got := logs.matching("hold_ports: port not held")
	want := "hold_ports: port not held fault=" + spec + " id=1 port=" + strconv.Itoa(p) + " err="
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.HasSuffix(got[0], "address already in use") {
		t.Fatalf("logged %q, want one line %q...address already in use", got, want)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("127.0.0.1:%d while another address has the port: %v, want free", p, err)
	}
	l.Close()
	if fs := inj.Faults(); !slices.ContainsFunc(fs, func(f faults.Info) bool { return f.ID == info.ID }) {
		t.Errorf("faults %v: the busy port's fault is gone", fs)
	}

	other.Close()
	// The retry logs the port held right after it takes it: waiting for
	// the port alone could look at the log between the two.
	waitForCond(t, fmt.Sprintf("port %d held and logged after the other listener closed, under %s", p, spec), func() bool {
		return len(logs.matching("hold_ports: port held")) > 0
	})
	if portFree(p) {
		t.Errorf("port %d logged held, but free", p)
	}
	held := "hold_ports: port held fault=" + spec + " id=1 port=" + strconv.Itoa(p)
	if got := logs.matching("hold_ports: port held"); !slices.Equal(got, []string{held}) {
		t.Errorf("logged %q, want %q", got, held)
	}
	inj.Remove(info.ID)
	if !portFree(p) {
		t.Errorf("port %d still held after remove", p)
	}
}

// TestHoldPortsRemovedWhileWaiting: removing the fault while a port is
// still in use elsewhere ends the retries: the port is not taken later.
func TestHoldPortsRemovedWhileWaiting(t *testing.T) {
	p := epmdtest.Port(t) // as above
	other, err := net.Listen("tcp4", "127.0.0.2:"+strconv.Itoa(p))
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	inj := faults.NewInjector(1, nil)
	info, err := inj.AddSpec("hold_ports=" + strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	removed := make(chan struct{})
	go func() {
		inj.Remove(info.ID)
		close(removed)
	}()
	select {
	case <-removed:
	case <-time.After(5 * time.Second):
		t.Fatalf("Remove of hold_ports=%d still waiting 5s later, the port in use elsewhere", p)
	}
	other.Close()
	for i := range 5 { // past several retry intervals
		time.Sleep(60 * time.Millisecond)
		if !portFree(p) {
			t.Fatalf("port %d taken %d ms after the fault was removed", p, (i+1)*60)
		}
	}
}
