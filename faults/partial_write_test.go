package faults_test

import (
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestPartialWriteHangPortPlease: partial_write=N,then=hang with N of 12
// or more on PORT_PLEASE2 sends the reply up to and including the name
// length (OTP's erl_epmd then waits for the close with no timeout),
// withholds the rest, and keeps the connection open for as long as the
// client does; the server closes its end once the client has closed.
// a1 (port 4000) is registered; its 16-byte reply is
// w 00 | 0f a0 | 4d 00 | 00 06 00 05 | 00 02 | a1 | 00 00.
func TestPartialWriteHangPortPlease(t *testing.T) {
	p2a1 := port2("a1", 4000)
	if len(p2a1) != 16 {
		t.Fatalf("PORT2_RESP of a1 has %d bytes, want 16", len(p2a1))
	}
	tests := []struct {
		name string
		spec string
		want string
	}{
		{name: "12: up to the name length", spec: "partial_write=12,then=hang,req=port_please", want: "w\x00\x0f\xa0M\x00\x00\x06\x00\x05\x00\x02"},
		{name: "13: one byte of the name", spec: "partial_write=13,then=hang,req=port_please", want: "w\x00\x0f\xa0M\x00\x00\x06\x00\x05\x00\x02a"},
		{name: "longer than the reply: all of it, still held", spec: "partial_write=100,then=hang,req=port_please", want: p2a1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t)
				defer b.close()
				b.register("a1", 4000)
				if _, err := b.inj.AddSpec(tt.spec); err != nil {
					t.Fatal(err)
				}
				x := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"})
				time.Sleep(horizon)
				got, closed := x.result()
				if want := []chunk{{0, tt.want}}; !slices.Equal(got, want) || closed {
					t.Errorf("after %v: reads %q, closed %v; want %q, open", horizon, got, closed, want)
				}
				if ends := b.rec.ends(); len(ends) != 0 {
					t.Errorf("fault ended connections %v before the client closed, want none", ends)
				}
				if err := x.conn.Close(); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if ends, want := b.rec.ends(), map[uint64]string{2: "close"}; !maps.Equal(ends, want) {
					t.Errorf("after the client's close, fault ended connections %v, want %v", ends, want)
				}
				if nodes := b.names(); !slices.Equal(nodes, []string{"a1"}) {
					t.Errorf("registered %q, want [a1]", nodes)
				}
			})
		})
	}
}
