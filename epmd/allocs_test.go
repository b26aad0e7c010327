//go:build !race

package epmd

// Allocation counts and what the pools give back, which the race
// detector's sync.Pool (it drops a quarter of what is put back, on
// purpose) makes meaningless: make test runs these without it.

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
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
		short := r.serveQueued(t, n, len(frame))
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

// TestRegistrationCycleAllocatesTwo: a registration that arrived with its
// connection and ends when its client closes (a churn cycle: accepted and
// served on the inline path, ended by the watcher) allocates two objects
// once the pools are filled: its name and its node table entry. The
// request's message, the connection's objects and the registration's
// release come from the pools or the connection itself.
func TestRegistrationCycleAllocatesTwo(t *testing.T) {
	const n = 50
	// Unregistered names are remembered up to a bound: 20 here, so that
	// the node table's maps stop growing after the first round.
	r := newInlineRig(t, func(s *Server) { s.Registry = &MemRegistry{UnregMemory: 20} })
	reg := r.s.reg.(*MemRegistry)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	reply := make([]byte, 6)
	// Three rounds: the first fills the pools; in the second, connPool's
	// queue grows a ring for the 50 objects put back at once.
	for round := range 3 {
		clients := make([]*net.TCPConn, n)
		least := 0 // the shortest frame
		for i := range clients {
			clients[i] = r.dial(t, 0)
			req := AppendFrame(nil, &Alive2Req{PortNo: 5555, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: fmt.Sprintf("r%d_%d", round, i)})
			if _, err := clients[i].Write(req); err != nil {
				t.Fatal(err)
			}
			if least == 0 || len(req) < least {
				least = len(req)
			}
		}
		deadline := time.Now().Add(inlineIOTimeout)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		short := r.serveQueued(t, n, least)
		bad := 0
		for _, c := range clients {
			if _, err := io.ReadFull(c, reply); err != nil || reply[0] != 'v' || reply[1] != 0 {
				bad++
			}
			_ = c.Close()
		}
		// The watcher ends each registration, closes and recycles its
		// connection; OpenConns counts it until untrack, just before. With
		// one P this goroutine runs again only when the watcher parks,
		// after its whole batch, recycles included (or is preempted, after
		// 10 ms: a batch of 50 takes well under one).
		for (reg.Len() > 0 || r.s.OpenConns() > 0) && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		runtime.ReadMemStats(&after)
		if short > 0 || bad > 0 {
			t.Fatalf("round %d: %d requests had not arrived when accepted, %d replies not ALIVE2_X_RESP ok", round, short, bad)
		}
		if got, open := reg.Len(), r.s.OpenConns(); got != 0 || open != 0 {
			t.Fatalf("round %d: %d still registered, %d connections open after %v", round, got, open, inlineIOTimeout)
		}
		// As in the NAMES test, a runtime table growing counts one now
		// and then; one more object a cycle would count 50.
		if mallocs := after.Mallocs - before.Mallocs; round == 2 && mallocs > 2*n+1 {
			t.Fatalf("%d allocations for %d registration cycles, want %d (or %d)", mallocs, n, 2*n, 2*n+1)
		}
	}
}

// serveQueued accepts n connections and serves each on the inline path,
// as Serve does, allocating nothing of its own; it returns how many had
// fewer than least bytes of their request queued when accepted. On
// loopback a write has reached the peer's queue when it returns: a
// request that had not would wait in the watcher.
func (r *inlineRig) serveQueued(t *testing.T, n, least int) (short int) {
	for range n {
		c, err := r.s.acceptRaw(r.a)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := inq(c.FD); n < least {
			short++
		}
		if !r.s.track(c) {
			t.Fatal("track: server closed")
		}
		r.s.serveInline(c)
	}
	return short
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
