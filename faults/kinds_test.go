package faults_test

import (
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Replies of the bubble's server (see creationBase).
const (
	aliveOK   = "v\x00\x00\x00\x03\xe9" // creation 1001
	aliveOK5  = "y\x00\x00\x03"         // 1001%3+1
	aliveErr  = "v\x01\x00\x00\x00\x63"
	aliveErr5 = "y\x01\x00\x63"
	namesHead = "\x00\x00\x11\x11" // port 4369
	lineB1    = "name b1 at port 5000\n"
	lineA1    = "name a1 at port 4000\n"
)

// TestKinds runs every request-level kind against the request types it
// acts on: a1 (port 4000) and b1 (port 5000, newest) are registered before
// the fault is added, then one request is sent from peer 127.0.0.1. The
// test checks every read of the client and when it came (virtual time),
// whether the connection was closed within an hour, how the fault ended it
// (close or reset), and the registrations afterwards.
func TestKinds(t *testing.T) {
	p2a1 := port2("a1", 4000)
	tests := []struct {
		name   string
		faults []string
		req    epmd.Message
		want   []chunk
		closed bool   // the server closed the connection within the horizon
		end    string // how a fault ended it: "", "close", "reset"
		nodes  []string
	}{
		{name: "no fault: port_please", req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "no fault: alive2 kept", req: alive2("c1", 6000, 6),
			want: []chunk{{0, aliveOK}}, nodes: []string{"c1", "b1", "a1"}},

		{name: "delay_accept delays the whole exchange", faults: []string{"delay_accept=3"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{3 * time.Second, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "delay_write port_please", faults: []string{"delay_write=5"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{5 * time.Second, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "delay_write names sleeps per line", faults: []string{"delay_write=5"}, req: &epmd.NamesReq{},
			want: []chunk{{5 * time.Second, namesHead}, {10 * time.Second, lineB1}, {15 * time.Second, lineA1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "delay_write alive2 in Go units", faults: []string{"delay_write=200ms,req=alive2"}, req: alive2("c1", 6000, 6),
			want: []chunk{{200 * time.Millisecond, aliveOK}}, nodes: []string{"c1", "b1", "a1"}},
		{name: "delay_write other request type untouched", faults: []string{"delay_write=5,req=names"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "stall freezes the request", faults: []string{"stall=5,first=1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{5 * time.Second, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},

		{name: "drop port_please", faults: []string{"drop"}, req: &epmd.PortPlease2Req{Name: "a1"},
			closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "drop at accept", faults: []string{"drop,req=accept"}, req: &epmd.NamesReq{},
			closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "drop alive2 registers nothing", faults: []string{"drop,req=alive2"}, req: alive2("c1", 6000, 6),
			closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "drop names", faults: []string{"drop,req=names"}, req: &epmd.NamesReq{},
			closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "reset names", faults: []string{"reset,req=names"}, req: &epmd.NamesReq{},
			closed: true, end: "reset", nodes: []string{"b1", "a1"}},
		{name: "reset at accept", faults: []string{"reset,req=accept"}, req: &epmd.PortPlease2Req{Name: "a1"},
			closed: true, end: "reset", nodes: []string{"b1", "a1"}},
		{name: "reset alive2 registers nothing", faults: []string{"reset"}, req: alive2("c1", 6000, 6),
			closed: true, end: "reset", nodes: []string{"b1", "a1"}},
		{name: "hang port_please", faults: []string{"hang,req=port_please"}, req: &epmd.PortPlease2Req{Name: "a1"},
			nodes: []string{"b1", "a1"}},
		{name: "hang alive2 registers nothing", faults: []string{"hang"}, req: alive2("c1", 6000, 6),
			nodes: []string{"b1", "a1"}},
		{name: "hang at accept", faults: []string{"hang,req=accept"}, req: &epmd.NamesReq{},
			nodes: []string{"b1", "a1"}},

		{name: "partial_write port_please", faults: []string{"partial_write=3,req=port_please"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:3]}}, closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "partial_write then reset", faults: []string{"partial_write=1,then=reset"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:1]}}, closed: true, end: "reset", nodes: []string{"b1", "a1"}},
		{name: "partial_write names across lines", faults: []string{"partial_write=6"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1[:2]}}, closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "partial_write alive2 then hang: registered while hanging", faults: []string{"partial_write=2,then=hang"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, aliveOK[:2]}}, nodes: []string{"c1", "b1", "a1"}},
		{name: "partial_write longer than alive2 reply: cut at its end, registration ends", faults: []string{"partial_write=10,req=alive2"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, aliveOK}}, closed: true, end: "close", nodes: []string{"b1", "a1"}},
		{name: "slice port_please with gap", faults: []string{"slice=4,gap=1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want:   []chunk{{0, p2a1[:4]}, {time.Second, p2a1[4:8]}, {2 * time.Second, p2a1[8:12]}, {3 * time.Second, p2a1[12:]}},
			closed: true, nodes: []string{"b1", "a1"}},
		{name: "slice alive2 byte by byte", faults: []string{"slice=1,req=alive2"}, req: alive2("c1", 6000, 6),
			want:  []chunk{{0, aliveOK[:1]}, {0, aliveOK[1:2]}, {0, aliveOK[2:3]}, {0, aliveOK[3:4]}, {0, aliveOK[4:5]}, {0, aliveOK[5:]}},
			nodes: []string{"c1", "b1", "a1"}},
		{name: "slice names gap between writes too", faults: []string{"slice=100,gap=500ms,req=names"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead}, {500 * time.Millisecond, lineB1}, {time.Second, lineA1}}, closed: true, nodes: []string{"b1", "a1"}},

		{name: "corrupt result alive2: registered, told error", faults: []string{"corrupt=result,req=alive2"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, "v\x01" + aliveOK[2:]}}, nodes: []string{"c1", "b1", "a1"}},
		{name: "corrupt result port_please", faults: []string{"corrupt=result"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, "w\x01" + p2a1[2:]}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt result names untouched", faults: []string{"corrupt=result"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1 + lineA1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt port port_please", faults: []string{"corrupt=port=7"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:2] + "\x00\x07" + p2a1[4:]}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt port names header", faults: []string{"corrupt=port=7,req=names"}, req: &epmd.NamesReq{},
			want: []chunk{{0, "\x00\x00\x00\x07" + lineB1 + lineA1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt names_port flips the port's lowest bit", faults: []string{"corrupt=names_port"}, req: &epmd.NamesReq{},
			want: []chunk{{0, "\x00\x00\x11\x10" + lineB1 + lineA1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt names_port leaves port_please alone", faults: []string{"corrupt=names_port"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt version port_please", faults: []string{"corrupt=version=7:1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:6] + "\x00\x07\x00\x01" + p2a1[10:]}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt version leaves not-found alone", faults: []string{"corrupt=version=7:1"}, req: &epmd.PortPlease2Req{Name: "zz"},
			want: []chunk{{0, "w\x01"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "corrupt version leaves names alone", faults: []string{"corrupt=version=7:1"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1 + lineA1}}, closed: true, nodes: []string{"b1", "a1"}},

		{name: "port_collision takes another node's port", faults: []string{"port_collision"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:2] + "\x13\x88" + p2a1[4:]}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "port_collision fixed port", faults: []string{"port_collision,port=9"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1[:2] + "\x00\x09" + p2a1[4:]}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "port_collision leaves not-found alone", faults: []string{"port_collision"}, req: &epmd.PortPlease2Req{Name: "zz"},
			want: []chunk{{0, "w\x01"}}, closed: true, nodes: []string{"b1", "a1"}},

		{name: "name_in_use refuses, keeps the connection", faults: []string{"name_in_use,node=c*"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, aliveErr}}, nodes: []string{"b1", "a1"}},
		{name: "name_in_use HighVsn 5 reply", faults: []string{"name_in_use"}, req: alive2("c1", 6000, 5),
			want: []chunk{{0, aliveErr5}}, nodes: []string{"b1", "a1"}},
		{name: "name_in_use other names register", faults: []string{"name_in_use,node=c*"}, req: alive2("d1", 6000, 6),
			want: []chunk{{0, aliveOK}}, nodes: []string{"d1", "b1", "a1"}},

		{name: "creation forced", faults: []string{"creation=7"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, "v\x00\x00\x00\x00\x07"}}, nodes: []string{"c1", "b1", "a1"}},
		{name: "creation forced HighVsn 5", faults: []string{"creation=70000"}, req: alive2("c1", 6000, 5),
			want: []chunk{{0, "y\x00\x11\x70"}}, nodes: []string{"c1", "b1", "a1"}},
		{name: "creation leaves errors alone", faults: []string{"creation=7"}, req: alive2("a1", 6000, 6),
			want: []chunk{{0, aliveErr}}, nodes: []string{"b1", "a1"}},

		{name: "forget port_please", faults: []string{"forget,node=a*"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, "w\x01"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "forget names", faults: []string{"forget,node=a*"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "forget does not free the name", faults: []string{"forget"}, req: alive2("a1", 6000, 6),
			want: []chunk{{0, aliveErr}}, nodes: []string{"b1", "a1"}},

		{name: "phantom names after the registered", faults: []string{"phantom=x1:7000;y1:7001"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1 + lineA1 + "name x1 at port 7000\n" + "name y1 at port 7001\n"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom port_please", faults: []string{"phantom=x1:7000;y1:7001"}, req: &epmd.PortPlease2Req{Name: "y1"},
			want: []chunk{{0, "w\x00\x1b\x59M\x00\x00\x06\x00\x05\x00\x02y1\x00\x00"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom hidden by a registration of its name", faults: []string{"phantom=a1:7000;x1:7001"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1 + lineA1 + "name x1 at port 7001\n"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom port_please finds the registration first", faults: []string{"phantom=a1:7000"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: []chunk{{0, p2a1}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom unknown names still not found", faults: []string{"phantom=x1:7000"}, req: &epmd.PortPlease2Req{Name: "zz"},
			want: []chunk{{0, "w\x01"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom generated names", faults: []string{"phantom=2"}, req: &epmd.NamesReq{},
			want: []chunk{{0, namesHead + lineB1 + lineA1 + "name phantom1 at port 10001\n" + "name phantom2 at port 10002\n"}}, closed: true, nodes: []string{"b1", "a1"}},
		{name: "phantom name can be registered", faults: []string{"phantom=c1:7000"}, req: alive2("c1", 6000, 6),
			want: []chunk{{0, aliveOK}}, nodes: []string{"c1", "b1", "a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t)
				defer b.close()
				b.register("a1", 4000)
				b.register("b1", 5000)
				for _, s := range tt.faults {
					if _, err := b.inj.AddSpec(s); err != nil {
						t.Fatal(err)
					}
				}
				x := b.send("127.0.0.1", tt.req)
				time.Sleep(horizon)
				got, closed := x.result()
				if !slices.Equal(got, tt.want) {
					t.Errorf("reads = %q, want %q", got, tt.want)
				}
				if closed != tt.closed {
					t.Errorf("closed within %v = %v, want %v", horizon, closed, tt.closed)
				}
				wantEnds := map[uint64]string{}
				if tt.end != "" {
					wantEnds[3] = tt.end
				}
				if ends := b.rec.ends(); !reflect.DeepEqual(ends, wantEnds) {
					t.Errorf("fault ended connections %v, want %v", ends, wantEnds)
				}
				if nodes := b.names(); !slices.Equal(nodes, tt.nodes) {
					t.Errorf("registered %q, want %q", nodes, tt.nodes)
				}
			})
		})
	}
}
