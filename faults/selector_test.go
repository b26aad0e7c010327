package faults_test

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// probe is one request of a selector test.
type probe struct {
	peer string
	req  epmd.Message
	at   time.Duration // sent at this time after the fault was added
}

// dropped runs the probes in order against a server with fault and
// reports, for each, whether it was dropped (no reply).
func dropped(t *testing.T, seed int64, fault string, probes []probe) []bool {
	t.Helper()
	var out []bool
	synctest.Test(t, func(t *testing.T) {
		b := newSeededBubble(t, seed)
		defer b.close()
		b.register("a1", 4000)
		b.register("b1", 5000)
		if _, err := b.inj.AddSpec(fault); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, p := range probes {
			if d := p.at - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			got, _ := b.send(p.peer, p.req).result()
			out = append(out, len(got) == 0)
		}
	})
	return out
}

func repeat(n int, p probe) []probe {
	ps := make([]probe, n)
	for i := range ps {
		ps[i] = p
	}
	return ps
}

var (
	namesFrom = func(peer string) probe { return probe{peer: peer, req: &epmd.NamesReq{}} }
	lookup    = func(name string) probe { return probe{peer: "127.0.0.1", req: &epmd.PortPlease2Req{Name: name}} }
	names     = namesFrom("127.0.0.1")
)

func TestSelectors(t *testing.T) {
	T, F := true, false
	tests := []struct {
		name   string
		fault  string
		probes []probe
		want   []bool
	}{
		{name: "no selector", fault: "drop", probes: []probe{names, lookup("a1")}, want: []bool{T, T}},
		{name: "req one", fault: "drop,req=names", probes: []probe{names, lookup("a1"), names}, want: []bool{T, F, T}},
		{name: "req several", fault: "drop,req=names|port_please", probes: []probe{names, lookup("a1")}, want: []bool{T, T}},
		{name: "node glob star", fault: "drop,node=a*", probes: []probe{lookup("a1"), lookup("b1"), lookup("ab"), names}, want: []bool{T, F, T, F}},
		{name: "node glob question mark", fault: "drop,node=?1", probes: []probe{lookup("a1"), lookup("b1"), lookup("a12")}, want: []bool{T, T, F}},
		{name: "node glob class", fault: "drop,node=[b-c]*", probes: []probe{lookup("a1"), lookup("b1"), lookup("c9")}, want: []bool{F, T, T}},
		{name: "node glob exact", fault: "drop,node=a1", probes: []probe{lookup("a1"), lookup("a11")}, want: []bool{T, F}},
		{name: "node glob escaped star", fault: `drop,node=a\*`, probes: []probe{lookup("a*"), lookup("a1")}, want: []bool{T, F}},
		{name: "peer CIDR v4", fault: "drop,peer=10.0.0.0/8", probes: []probe{namesFrom("10.1.2.3"), namesFrom("127.0.0.1"), namesFrom("11.0.0.1")}, want: []bool{T, F, F}},
		{name: "peer address", fault: "drop,peer=127.0.0.2", probes: []probe{namesFrom("127.0.0.2"), namesFrom("127.0.0.1")}, want: []bool{T, F}},
		{name: "peer v6", fault: "drop,peer=::1", probes: []probe{namesFrom("::1"), namesFrom("127.0.0.1")}, want: []bool{T, F}},
		{name: "peer v4-mapped peer matches v4 CIDR", fault: "drop,peer=10.0.0.0/8", probes: []probe{namesFrom("::ffff:10.0.0.1")}, want: []bool{T}},
		{name: "first", fault: "drop,first=2", probes: repeat(5, names), want: []bool{T, T, F, F, F}},
		{name: "every", fault: "drop,every=3", probes: repeat(7, names), want: []bool{F, F, T, F, F, T, F}},
		{name: "after", fault: "drop,after=2", probes: repeat(5, names), want: []bool{F, F, T, T, T}},
		{name: "after every first", fault: "drop,after=1,every=2,first=2", probes: repeat(8, names), want: []bool{F, F, T, F, T, F, F, F}},
		{name: "counts only matching requests", fault: "drop,req=names,every=2",
			probes: []probe{names, lookup("a1"), names, lookup("a1"), names, names}, want: []bool{F, F, T, F, F, T}},
		{name: "start and for window", fault: "drop,start=10,for=5", probes: []probe{
			{"127.0.0.1", &epmd.NamesReq{}, 0},
			{"127.0.0.1", &epmd.NamesReq{}, 10*time.Second - time.Nanosecond},
			{"127.0.0.1", &epmd.NamesReq{}, 10 * time.Second},
			{"127.0.0.1", &epmd.NamesReq{}, 15*time.Second - time.Nanosecond},
			{"127.0.0.1", &epmd.NamesReq{}, 15 * time.Second},
		}, want: []bool{F, F, T, T, F}},
		{name: "for alone", fault: "drop,for=1.5s", probes: []probe{
			{"127.0.0.1", &epmd.NamesReq{}, 0},
			{"127.0.0.1", &epmd.NamesReq{}, 1500*time.Millisecond - 1},
			{"127.0.0.1", &epmd.NamesReq{}, 1500 * time.Millisecond},
		}, want: []bool{T, T, F}},
		{name: "all together", fault: "drop,req=port_please,node=a*,peer=127.0.0.0/8,first=1,start=1",
			probes: []probe{lookup("a1"), {"127.0.0.1", &epmd.PortPlease2Req{Name: "b1"}, time.Second},
				{"127.0.0.1", &epmd.PortPlease2Req{Name: "a1"}, time.Second}, lookup("a1")},
			want: []bool{F, F, T, F}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dropped(t, 1, tt.fault, tt.probes); !slices.Equal(got, tt.want) {
				t.Errorf("%s: dropped %v, want %v", tt.fault, got, tt.want)
			}
		})
	}
}

// TestProbability: p=0.25 drops about a quarter of the requests, the same
// ones for the same seed.
func TestProbability(t *testing.T) {
	const n = 2000
	count := func(d []bool) int {
		c := 0
		for _, x := range d {
			if x {
				c++
			}
		}
		return c
	}
	a := dropped(t, 42, "drop,p=0.25", repeat(n, names))
	// Binomial(2000, 0.25): mean 500, sd 19.4; ±5 sd.
	if c := count(a); c < 403 || c > 597 {
		t.Errorf("p=0.25 dropped %d of %d, want about 500", c, n)
	}
	if b := dropped(t, 42, "drop,p=0.25", repeat(n, names)); !slices.Equal(a, b) {
		t.Error("same seed, different requests dropped")
	}
	if c := dropped(t, 43, "drop,p=0.25", repeat(n, names)); slices.Equal(a, c) {
		t.Error("different seeds, same requests dropped")
	}
	// p composes with first: the first 10 acted-on requests, each with p.
	if d := dropped(t, 42, "drop,p=0.5,first=10", repeat(200, names)); count(d) != 10 {
		t.Errorf("p=0.5,first=10 dropped %d, want 10", count(d))
	}
}

// TestFired counts and the event stream name what fired.
func TestFiredEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		b.register("a1", 4000)
		info, _ := b.inj.AddSpec("drop,req=port_please,node=a*")
		b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"}).result()
		b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "b1"}).result()
		if f := b.inj.Faults(); len(f) != 1 || f[0].Fired != 1 || f[0].ID != info.ID {
			t.Errorf("faults = %+v, want one fired once", f)
		}
		var got []string
		for _, ev := range b.inj.Events(0) {
			got = append(got, fmt.Sprintf("%s %s %s %s %s", ev.Type, ev.Kind, ev.Req, ev.Node, ev.Peer))
		}
		want := []string{"registered   a1 127.0.0.1", "fault drop port_please a1 127.0.0.1"}
		if !slices.Equal(got, want) {
			t.Errorf("events:\n%q\nwant\n%q", got, want)
		}
	})
}
