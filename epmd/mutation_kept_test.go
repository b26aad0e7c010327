package epmd_test

// Registration connections are watched by the server's epoll instance, not
// by a goroutine each, and keep being so after registrations end (see make
// mutate).

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestRegistrationsHoldNoGoroutine: 40 registrations add no goroutine
// once the watcher runs, also after an earlier registration ended through
// it.
func TestRegistrationsHoldNoGoroutine(t *testing.T) {
	s := &epmd.Server{}
	addr := startServer(t, s)
	first, _ := register(t, addr, &epmd.Alive2Req{PortNo: 1, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "first"})
	first.Close()
	waitFor(t, "first unregistered", func() bool { _, ok := s.NodeTable().Lookup("first"); return !ok })
	register(t, addr, &epmd.Alive2Req{PortNo: 2, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "second"})
	var before int
	waitFor(t, "the server's goroutines settled", func() bool {
		before = runtime.NumGoroutine()
		return s.OpenConns() == 1
	})
	for i := range 40 {
		register(t, addr, &epmd.Alive2Req{PortNo: 3, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "n" + strconv.Itoa(i)})
	}
	if n := s.OpenConns(); n != 41 {
		t.Fatalf("OpenConns = %d, want 41 registrations", n)
	}
	// The last connection's goroutine may still be on its way out.
	waitFor(t, "no goroutine per registration", func() bool { return runtime.NumGoroutine() <= before+2 })
}
