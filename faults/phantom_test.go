package faults_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestPhantomManyNames: phantom=10000 lists phantom1..phantom10000 at
// ports 10001..20000 after the registered node, in one reply, and each is
// found by PORT_PLEASE2.
func TestPhantomManyNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		b.register("a1", 4000)
		if _, err := b.inj.AddSpec("phantom=10000"); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		want.WriteString(namesHead + lineA1)
		for k := 1; k <= 10000; k++ {
			want.WriteString("name phantom" + strconv.Itoa(k) + " at port " + strconv.Itoa(10000+k) + "\n")
		}
		x := b.send("127.0.0.1", &epmd.NamesReq{})
		time.Sleep(horizon)
		_, closed := x.result()
		if got := x.bytes(); got != want.String() || !closed {
			t.Errorf("NAMES: %d bytes (closed %v), want %d bytes (closed); first difference at %d",
				len(got), closed, want.Len(), firstDiff(got, want.String()))
		}
		x = b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "phantom10000"})
		if got, want := x.bytes(), "w\x00\x4e\x20M\x00\x00\x06\x00\x05\x00\x0cphantom10000\x00\x00"; got != want {
			t.Errorf("PORT_PLEASE2 phantom10000: %q, want %q", got, want)
		}
	})
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestPhantomSelectors: node= narrows PORT_PLEASE2 to the names it
// matches, and NAMES (which has no node name) then sees no phantom.
func TestPhantomSelectors(t *testing.T) {
	tests := []struct {
		name string
		req  epmd.Message
		want string
	}{
		{name: "matching lookup", req: &epmd.PortPlease2Req{Name: "x1"}, want: "w\x00\x1b\x58M\x00\x00\x06\x00\x05\x00\x02x1\x00\x00"},
		{name: "other lookup", req: &epmd.PortPlease2Req{Name: "y1"}, want: "w\x01"},
		{name: "names", req: &epmd.NamesReq{}, want: namesHead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, "phantom=x1:7000;y1:7001,node=x*")
				defer b.close()
				if got := b.send("127.0.0.1", tt.req).bytes(); got != tt.want {
					t.Errorf("reply %q, want %q", got, tt.want)
				}
			})
		})
	}
}

// BenchmarkPhantomNames measures a NAMES request answered with 10000
// phantoms and one registered node.
func BenchmarkPhantomNames(b *testing.B) {
	reg := &epmd.MemRegistry{}
	if _, err := reg.Register(epmd.Node{Name: "a1", PortNo: 4000, HighVsn: 6, LowVsn: 6}); err != nil {
		b.Fatal(err)
	}
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	if _, err := inj.AddSpec("phantom=10000"); err != nil {
		b.Fatal(err)
	}
	srv := &epmd.Server{Port: 4369, Registry: reg, Middleware: []epmd.Middleware{inj.Middleware}}
	r := &epmd.Request{Kind: epmd.KindNames, Msg: &epmd.NamesReq{}, Body: (&epmd.NamesReq{}).Append(nil),
		Conn: &epmd.Conn{ID: 1, IsLocal: true}, Registry: reg}
	ctx := context.Background()
	w := &countWriter{}
	for b.Loop() {
		srv.ServeRequest(ctx, w, r)
	}
	b.ReportMetric(float64(w.n)/float64(b.N), "bytes/op")
}

type countWriter struct {
	nopWriter
	n int
}

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
