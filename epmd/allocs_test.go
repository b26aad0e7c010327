//go:build !race

package epmd

// Allocation counts and what the pools give back, which the race
// detector's sync.Pool (it drops a quarter of what is put back, on
// purpose) makes meaningless: make test runs these without it.

import (
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// TestInlineNamesAllocatesNothing: a NAMES request that arrived with its
// connection is accepted, served and closed on the inline path without
// one allocation, once the server has served a few: the connection's
// objects come back from connPool and statePool, the reply is the
// registry's rendered one.
func TestInlineNamesAllocatesNothing(t *testing.T) {
	const n = 50
	r := newInlineRig(t)
	r.registerN(t, 10)
	frame := AppendFrame(nil, &NamesReq{})
	reply := r.s.reg.(*MemRegistry).NamesReply(4369)
	// The collector empties sync.Pools: not during the count. A pool keeps
	// an object per P that only that P takes again: with more than one,
	// the goroutine moving between Ps finds one of them out of reach now
	// and then (chaos-epmd runs with one P, as here).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	serve := func() (mallocs uint64, clients []*net.TCPConn) {
		for range n {
			c := r.dial(t, 0)
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		short := 0
		for range n {
			c, err := r.s.acceptRaw(r.a)
			if err != nil {
				t.Fatal(err)
			}
			// On loopback a write has reached the peer's queue when it
			// returns; a request that had not would wait in the watcher.
			if queuedNow(c.FD) < len(frame) {
				short++
			}
			if !r.s.track(c) {
				t.Fatal("track: server closed")
			}
			r.s.serveInline(c)
		}
		runtime.ReadMemStats(&after)
		if short > 0 {
			t.Fatalf("%d of %d requests had not arrived when accepted", short, n)
		}
		return after.Mallocs - before.Mallocs, clients
	}
	for round := range 2 {
		mallocs, clients := serve()
		for i, c := range clients {
			got, err := io.ReadAll(c)
			if err != nil || string(got) != string(reply) {
				t.Fatalf("round %d, client %d: reply % x, %v; want % x", round, i, got, err, reply)
			}
		}
		// The first round fills the pools. The count is the process's: a
		// runtime table growing now and then (a map's, the timer heap of
		// the clients' deadlines, a type-assertion cache) counts 1 in
		// about one run of 500; one allocation a request would count 50.
		if round == 1 && mallocs > 1 {
			t.Fatalf("%d allocations for %d NAMES requests served inline, want 0 (or 1: see above)", mallocs, n)
		}
	}
}

// queuedNow is queued without a test to fail: it allocates nothing.
func queuedNow(fd int) int {
	var n int32
	if _, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), 0x541B, uintptr(unsafe.Pointer(&n))); e != 0 {
		return -1
	}
	return int(n)
}

// TestInlineReuseWaitsForStop: a connection that a STOP looked up
// (closeConn pins it under the server's lock, then closes it) is not
// reused by the inline path when it ends meanwhile, since the STOP may
// still be closing it: its object would be another connection's by then.
// Unpinned, the same connection's object goes back to the pool.
func TestInlineReuseWaitsForStop(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// One P: what is put back is what the next Get returns.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := newInlineRig(t)
	frame := AppendFrame(nil, &NamesReq{})
	for _, pinned := range []bool{false, true, false} {
		c := r.dial(t, 0)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		sc, err := r.s.acceptRaw(r.a)
		if err != nil {
			t.Fatal(err)
		}
		if !r.s.track(sc) {
			t.Fatal("track: server closed")
		}
		if pinned && r.s.pinConn(sc.ID) != sc {
			t.Fatal("pinConn did not find the tracked connection")
		}
		_ = connPool.Get() // the P's own slot is empty now
		r.s.serveInline(sc)
		reused := connPool.Get().(*fdConns) == sc.inl
		if pinned {
			sc.pins.Add(-1)
		}
		if reused == pinned {
			t.Fatalf("pinned %v: object reused %v, want %v", pinned, reused, !pinned)
		}
		if got, err := io.ReadAll(c); err != nil || len(got) != 4 {
			t.Fatalf("pinned %v: reply % x, %v", pinned, got, err)
		}
	}
}
