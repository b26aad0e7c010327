package faults_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) Flush() error                { return nil }
func (nopWriter) Close() error                { return nil }
func (nopWriter) Reset() error                { return nil }

// BenchmarkInjectorNoActiveFault measures what the fault injector costs a
// request while no fault is installed (chaos-epmd with -admin): the same
// PORT_PLEASE2 through the bare protocol handler and through the injector,
// alternating in blocks so both see the same machine.
func BenchmarkInjectorNoActiveFault(b *testing.B) {
	reg := &epmd.MemRegistry{}
	for i := range 1000 {
		if _, err := reg.Register(epmd.Node{Name: "n" + strconv.Itoa(i), PortNo: 40000, HighVsn: 6, LowVsn: 6}); err != nil {
			b.Fatal(err)
		}
	}
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	bare := &epmd.Server{Port: 4369, Registry: reg}
	wrapped := &epmd.Server{Port: 4369, Registry: reg, Middleware: []epmd.Middleware{inj.Middleware}}
	msg := &epmd.PortPlease2Req{Name: "n500"}
	r := &epmd.Request{Kind: epmd.KindPortPlease2, Msg: msg, Body: msg.Append(nil),
		Conn: &epmd.Conn{ID: 1, IsLocal: true}, Registry: reg}
	ctx := context.Background()
	const block = 1000
	var tBare, tInj time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		for range block {
			bare.ServeRequest(ctx, nopWriter{}, r)
		}
		t1 := time.Now()
		for range block {
			wrapped.ServeRequest(ctx, nopWriter{}, r)
		}
		tInj += time.Since(t1)
		tBare += t1.Sub(t0)
		n += block
	}
	b.ReportMetric(float64(tBare.Nanoseconds())/float64(n), "bare-ns/req")
	b.ReportMetric(float64(tInj.Nanoseconds())/float64(n), "injector-ns/req")
	b.ReportMetric(100*(float64(tInj)/float64(tBare)-1), "overhead-%")
}
