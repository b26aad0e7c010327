package epmd_test

// Registration connections are watched by the server's epoll instance, not
// by a goroutine each, and keep being so after registrations end (see make
// mutate).

import (
	"runtime"
	"strconv"
	"strings"
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

// TestWatcherSleepsInThePoller: with registrations held and nothing
// happening, the watcher's goroutine waits in Go's poller (IO wait); it
// does not poll the epoll instance in a loop.
func TestWatcherSleepsInThePoller(t *testing.T) {
	s := &epmd.Server{}
	addr := startServer(t, s)
	register(t, addr, &epmd.Alive2Req{PortNo: 1, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "idle"})
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the watcher's goroutine, last seen: %s", last)
		}
	})
	waitFor(t, "the watcher parked in IO wait", func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "epmd.(*Server).keptLoop") {
				last = strings.SplitN(g, "\n", 2)[0]
				return strings.Contains(last, "[IO wait")
			}
		}
		last = "no keptLoop goroutine"
		return false
	})
}
