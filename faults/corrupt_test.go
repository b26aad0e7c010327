package faults_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestCorruptSlicedReply: a corrupt fault added before a slice fault is the
// outer one, so it sees the reply in slices; its edits land on the same
// bytes as on a whole reply. a1 (port 4000) is registered before the
// faults are added; the reply is read to its end.
func TestCorruptSlicedReply(t *testing.T) {
	p2a1 := port2("a1", 4000)
	tests := []struct {
		name   string
		faults []string
		req    epmd.Message
		want   string
	}{
		{name: "result", faults: []string{"corrupt=result", "slice=1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: "w\x01" + p2a1[2:]},
		{name: "port", faults: []string{"corrupt=port=7", "slice=1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: p2a1[:2] + "\x00\x07" + p2a1[4:]},
		{name: "version", faults: []string{"corrupt=version=7:1", "slice=1"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: p2a1[:6] + "\x00\x07\x00\x01" + p2a1[10:]},
		{name: "version in slices of 3", faults: []string{"corrupt=version=258:772", "slice=3"}, req: &epmd.PortPlease2Req{Name: "a1"},
			want: p2a1[:6] + "\x01\x02\x03\x04" + p2a1[10:]},
		{name: "version leaves not-found alone", faults: []string{"corrupt=version=7:1", "slice=1"}, req: &epmd.PortPlease2Req{Name: "zz"},
			want: "w\x01"},
		{name: "names_port", faults: []string{"corrupt=names_port", "slice=1,req=names"}, req: &epmd.NamesReq{},
			want: "\x00\x00\x11\x10" + lineA1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t)
				defer b.close()
				b.register("a1", 4000)
				for _, s := range tt.faults {
					if _, err := b.inj.AddSpec(s); err != nil {
						t.Fatal(err)
					}
				}
				x := b.send("127.0.0.1", tt.req)
				time.Sleep(horizon)
				_, closed := x.result()
				if got := x.bytes(); got != tt.want || !closed {
					t.Errorf("reply %q (closed %v), want %q (closed)", got, closed, tt.want)
				}
			})
		})
	}
}
