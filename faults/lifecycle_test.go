package faults_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestStale: a stale registration outlives its connection by exactly the
// fault's duration; meanwhile its port is still returned and its name
// refused.
func TestStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "stale=5,node=c*")
		defer b.close()
		c1 := b.register("c1", 6000)
		d1 := b.register("d1", 7000)
		_ = c1.conn.Close()
		_ = d1.conn.Close()
		closedAt := time.Now()
		if got := b.names(); !slices.Equal(got, []string{"c1"}) {
			t.Fatalf("right after close: registered %q, want [c1] (d1 not selected)", got)
		}
		time.Sleep(5*time.Second - time.Nanosecond)
		if got := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "c1"}).bytes(); got != port2("c1", 6000) {
			t.Errorf("PORT_PLEASE2 c1 at %v: %q, want the dead port", time.Since(closedAt), got)
		}
		if got := b.send("127.0.0.1", alive2("c1", 6001, 6)).bytes(); got != aliveErr {
			t.Errorf("ALIVE2 c1 at %v: %q, want refused %q", time.Since(closedAt), got, aliveErr)
		}
		time.Sleep(time.Nanosecond)
		if got := b.names(); len(got) != 0 {
			t.Errorf("at %v: registered %q, want none", time.Since(closedAt), got)
		}
		if got := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "c1"}).bytes(); got != "w\x01" {
			t.Errorf("PORT_PLEASE2 c1 after expiry: %q, want w 01", got)
		}
	})
}

// TestCrash: the registrations are dropped and their connections closed at
// once; new connections are reset for exactly for=; then the daemon serves
// again, empty.
func TestCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		a1 := b.register("a1", 4000)
		if _, err := b.inj.AddSpec("crash,for=10"); err != nil {
			t.Fatal(err)
		}
		if _, closed := a1.result(); !closed {
			t.Error("registration connection still open after crash")
		}
		if got := b.names(); len(got) != 0 {
			t.Errorf("registered %q after crash, want none", got)
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		x := b.send("127.0.0.1", &epmd.NamesReq{})
		if got, closed := x.result(); len(got) != 0 || !closed {
			t.Errorf("NAMES during crash: %q closed=%v, want nothing and closed", got, closed)
		}
		if ends := b.rec.ends(); ends[2] != "reset" {
			t.Errorf("connection during crash ended %q, want reset", ends[2])
		}
		time.Sleep(time.Nanosecond)
		if got := b.send("127.0.0.1", &epmd.NamesReq{}).bytes(); got != namesHead {
			t.Errorf("NAMES after crash: %q, want the empty list", got)
		}
		b.register("a1", 4001)
	})
}

// TestStallFreezesEverything: while the daemon is stalled, a second
// connection, a reply already being written and the end of a registration
// all wait for the end of the stall.
func TestStallFreezesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		a1 := b.register("a1", 4000)
		// The first NAMES connection stalls the daemon for 10 s.
		if _, err := b.inj.AddSpec("stall=10,req=names,first=1"); err != nil {
			t.Fatal(err)
		}
		first := b.send("127.0.0.1", &epmd.NamesReq{})
		time.Sleep(3 * time.Second)
		second := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"})
		_ = a1.conn.Close()
		time.Sleep(3 * time.Second)
		if got := b.names(); !slices.Equal(got, []string{"a1"}) {
			t.Errorf("during the stall registered %q, want a1 still (its end waits)", got)
		}
		time.Sleep(time.Minute)
		// At 10 s the NAMES reply and the end of a1 race, as in a
		// daemon waking up: either order is right.
		if got, _ := first.result(); !slices.Equal(got, []chunk{{10 * time.Second, namesHead + lineA1}}) &&
			!slices.Equal(got, []chunk{{10 * time.Second, namesHead}}) {
			t.Errorf("stalled NAMES: %q, want its reply at 10s", got)
		}
		if got, _ := second.result(); len(got) != 1 || got[0].At != 7*time.Second {
			t.Errorf("PORT_PLEASE2 sent at 3s: %q, want its reply at 10s (7s after sending)", got)
		}
		if got := b.names(); len(got) != 0 {
			t.Errorf("after the stall registered %q, want none", got)
		}
	})
}

// TestStallEndsEarly: a freeze ends when the stall's window closes (for=,
// as -max-fault-for sets it) or when the fault is removed, if either comes
// before its duration is up, for the request that set it and for those
// that arrived meanwhile.
func TestStallEndsEarly(t *testing.T) {
	for _, tt := range []struct {
		name, spec string
		end        func(inj *faults.Injector, id uint64) // at 3 s; nil: nothing
		want       time.Duration
	}{
		{name: "with its window", spec: "stall=60,req=names,first=1,for=5", want: 5 * time.Second},
		{name: "removed", spec: "stall=1h,req=names,first=1", want: 3 * time.Second,
			end: func(inj *faults.Injector, id uint64) { inj.Remove(id) }},
		{name: "cleared", spec: "stall=1h,req=names,first=1", want: 3 * time.Second,
			end: func(inj *faults.Injector, _ uint64) { inj.Clear() }},
		{name: "not before its duration", spec: "stall=4,req=names,first=1,for=1m", want: 4 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t)
				defer b.close()
				info, err := b.inj.AddSpec(tt.spec)
				if err != nil {
					t.Fatal(err)
				}
				first := b.send("127.0.0.1", &epmd.NamesReq{})
				time.Sleep(time.Second)
				second := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"})
				time.Sleep(2 * time.Second)
				if tt.end != nil {
					tt.end(b.inj, info.ID)
				}
				time.Sleep(2 * time.Hour)
				if got, _ := first.result(); !slices.Equal(got, []chunk{{tt.want, namesHead}}) {
					t.Errorf("stalled NAMES: %q, want its reply at %s", got, tt.want)
				}
				if got, _ := second.result(); len(got) != 1 || got[0].At != tt.want-time.Second {
					t.Errorf("PORT_PLEASE2 sent at 1s: %q, want its reply at %s", got, tt.want)
				}
			})
		})
	}
}

// TestPacketTimeout: selected idle connections are closed on the fault's
// timeout, others on the server's, both timed as the C epmd times whole
// seconds: N+1 s for N < 5 (2 s → 3 s), else N+1 rounded up to 5 s
// (60 s → 65 s); a sub-second timeout is exact.
func TestPacketTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "packet_timeout=2,peer=10.0.0.0/8")
		defer b.close()
		b.srv.PacketTimeout = 0 // default 60 s
		near := b.send("10.1.2.3", nil)
		far := b.send("127.0.0.1", nil)
		time.Sleep(3*time.Second - time.Nanosecond)
		if _, closed := near.result(); closed {
			t.Fatal("10.1.2.3 closed before 3s")
		}
		time.Sleep(time.Nanosecond)
		if _, closed := near.result(); !closed {
			t.Error("10.1.2.3 not closed at 3s")
		}
		time.Sleep(62*time.Second - time.Nanosecond)
		if _, closed := far.result(); closed {
			t.Error("127.0.0.1 closed before 65s")
		}
		time.Sleep(time.Nanosecond)
		if _, closed := far.result(); !closed {
			t.Error("127.0.0.1 not closed at 65s")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "packet_timeout=200ms")
		defer b.close()
		c := b.send("127.0.0.1", nil)
		time.Sleep(200*time.Millisecond - time.Nanosecond)
		if _, closed := c.result(); closed {
			t.Fatal("closed before 200ms")
		}
		time.Sleep(time.Nanosecond)
		if _, closed := c.result(); !closed {
			t.Error("not closed at 200ms")
		}
	})
}

// TestHangEndsWhenClientCloses: a hung request holds the connection until
// the client closes it, then the server closes its side.
func TestHangEndsWhenClientCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "hang")
		defer b.close()
		x := b.send("127.0.0.1", &epmd.NamesReq{})
		time.Sleep(24 * time.Hour)
		if n := b.srv.OpenConns(); n != 1 {
			t.Fatalf("open connections while hanging = %d, want 1", n)
		}
		_ = x.conn.Close()
		synctest.Wait()
		if n := b.srv.OpenConns(); n != 0 {
			t.Errorf("open connections after the client closed = %d, want 0", n)
		}
	})
}

// TestCorruptRandom flips exactly one byte of each reply write, the same
// bytes for the same seed.
func TestCorruptRandom(t *testing.T) {
	run := func(seed int64) string {
		var out string
		synctest.Test(t, func(t *testing.T) {
			b := newSeededBubble(t, seed)
			defer b.close()
			b.register("a1", 4000)
			if _, err := b.inj.AddSpec("corrupt=random,req=port_please"); err != nil {
				t.Fatal(err)
			}
			out = b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"}).bytes()
		})
		return out
	}
	want := port2("a1", 4000)
	got := run(7)
	if len(got) != len(want) {
		t.Fatalf("corrupted reply %q has %d bytes, want %d", got, len(got), len(want))
	}
	diff := 0
	for i := range got {
		if got[i] != want[i] {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("corrupted reply %q differs from %q in %d bytes, want 1", got, want, diff)
	}
	if again := run(7); again != got {
		t.Errorf("same seed: %q then %q", got, again)
	}
}

// TestCorruptResultKillStop turns KILL's OK into NO and STOP's STOPPED
// into NOEXIST, and only the reply: the node is stopped and the daemon
// killed all the same. A STOP of an unknown name keeps its NOEXISTSTOPPED.
func TestCorruptResultKillStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "corrupt=result,req=kill|stop")
		defer b.close()
		b.register("a1", 4000)
		if got := b.send("127.0.0.1", &epmd.StopReq{Name: "a1"}).bytes(); got != "NOEXIST" {
			t.Errorf("STOP a1: %q, want NOEXIST", got)
		}
		if got := b.names(); len(got) != 0 {
			t.Errorf("STOP still stopped: registered %q", got)
		}
		if got := b.send("127.0.0.1", &epmd.StopReq{Name: "zz"}).bytes(); got != "NOEXISTSTOPPED" {
			t.Errorf("STOP zz (unknown): %q, want NOEXISTSTOPPED unchanged", got)
		}
		if b.srv.Killed() {
			t.Fatal("killed before KILL")
		}
		if got := b.send("127.0.0.1", &epmd.KillReq{}).bytes(); got != "NO" {
			t.Errorf("KILL: %q, want NO", got)
		}
		synctest.Wait()
		if !b.srv.Killed() {
			t.Error("KILL answered NO did not kill the daemon; want it killed all the same")
		}
	})
}

// TestChangesKeepRegistrations: adding, removing and clearing faults
// never touch registrations or their connections.
func TestChangesKeepRegistrations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		a1 := b.register("a1", 4000)
		info, err := b.inj.AddSpec("drop")
		if err != nil {
			t.Fatal(err)
		}
		if got, closed := b.send("127.0.0.1", &epmd.NamesReq{}).result(); len(got) != 0 || !closed {
			t.Errorf("NAMES with drop: %q", got)
		}
		if !b.inj.Remove(info.ID) || b.inj.Remove(info.ID) {
			t.Error("Remove: want true, then false")
		}
		_, _ = b.inj.AddSpec("delay_write=1")
		b.inj.Clear()
		if _, closed := a1.result(); closed {
			t.Error("registration connection closed by fault changes")
		}
		if got := b.send("127.0.0.1", &epmd.NamesReq{}).bytes(); got != namesHead+lineA1 {
			t.Errorf("NAMES after clear: %q", got)
		}
		if got := b.inj.Faults(); len(got) != 0 {
			t.Errorf("faults after clear: %v", got)
		}
	})
}

// TestStaleLogsUnregistering: when a stale registration's connection ends,
// the server logs the end of the registration as it does without the
// fault ("unregistering", not "unregister of unknown connection"), and the
// fault logs that it keeps the node.
func TestStaleLogsUnregistering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logRecorder{}
		b := newLoggedBubble(t, logs, "stale=5")
		defer b.close()
		c1 := b.register("c1", 6000)
		_ = c1.conn.Close()
		synctest.Wait()
		if got := logs.matching("unregister of unknown connection"); len(got) != 0 {
			t.Errorf("logged %q", got)
		}
		if got, want := logs.matching("unregistering"), []string{"unregistering node=c1 creation=1001 port=6000"}; !slices.Equal(got, want) {
			t.Errorf("logged %q, want %q", got, want)
		}
		if got, want := logs.matching("registration kept stale"), []string{"registration kept stale fault=stale=5 id=1 node=c1"}; !slices.Equal(got, want) {
			t.Errorf("logged %q, want %q", got, want)
		}
		if got := b.names(); !slices.Equal(got, []string{"c1"}) {
			t.Errorf("registered %q, want [c1] kept stale", got)
		}
	})
}
