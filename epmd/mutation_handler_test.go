package epmd_test

// The protocol handler's reply paths that only a failing or recording
// writer shows: a failed ALIVE2 reply undoing its registration, DUMP of
// several remembered names, and -delay_write passing write errors on
// (see make mutate).

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// flushFails wraps the connection's writer so that every Flush fails.
type flushFails struct {
	epmd.ResponseWriter
}

var errFlush = errors.New("flush failed")

func (flushFails) Flush() error { return errFlush }

// TestAlive2ReplyNotSentUndoesRegistration: when the ALIVE2 reply cannot
// be sent, the registration it made is removed again and the connection
// is not kept.
func TestAlive2ReplyNotSentUndoesRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := func(next epmd.Handler) epmd.Handler {
			return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
				if r.Kind == epmd.KindAlive2 {
					w = flushFails{w}
				}
				next.ServeEPMD(ctx, w, r)
			})
		}
		var logs records
		s := &epmd.Server{Middleware: []epmd.Middleware{failing}, Logger: slog.New(&logs)}
		l := serveInBubble(t, s)
		conn := l.dial()
		got, eof := readPiecesAfter(conn, epmd.AppendFrame(nil, &epmd.Alive2Req{PortNo: 7, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "lost"}))
		// The reply went out at the end of the request all the same; the
		// connection was then closed, not kept.
		if !eof || len(got) != 1 || got[0].data != "v\x00\x38\x6d\x43\x81" {
			t.Errorf("read %v (EOF %t), want the reply and a close", got, eof)
		}
		if _, ok := s.NodeTable().Lookup("lost"); ok {
			t.Error("the registration whose reply failed is still there")
		}
		unused := s.NodeTable().Unused(nil)
		if len(unused) != 1 || unused[0].Name != "lost" {
			t.Errorf("remembered names %v, want lost", unused)
		}
		if want := "failed to send ALIVE2 reply node=lost"; !slices.Contains(logs.get(), want) {
			t.Errorf("log %q, want %q", logs.get(), want)
		}
	})
}

// TestDumpSeveral: DUMP lists every registered node, newest first, then
// every remembered one, oldest first.
func TestDumpSeveral(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &epmd.Server{Port: 4369}
		l := serveInBubble(t, s)
		reg := s.NodeTable()
		for i, name := range []string{"u1", "u2", "a1", "a2"} {
			n, err := reg.Register(epmd.Node{Name: name, PortNo: uint16(10 + i), FD: 20 + i})
			if err != nil {
				t.Fatal(err)
			}
			if name[0] == 'u' {
				reg.Unregister(n)
			}
		}
		got, _ := readPiecesAfter(l.dial(), epmd.AppendFrame(nil, &epmd.DumpReq{}))
		var all string
		for _, p := range got {
			all += p.data
		}
		want := "\x00\x00\x11\x11" +
			"active name     <a2> at port 13, fd = 23\n\x00" +
			"active name     <a1> at port 12, fd = 22\n\x00" +
			"old/unused name <u1>, port = 10, fd = 20 \n\x00" +
			"old/unused name <u2>, port = 11, fd = 21 \n\x00"
		if all != want {
			t.Errorf("DUMP = %q, want %q", all, want)
		}
	})
}

// recWriter records writes and fails them, or their flushes, on demand.
type recWriter struct {
	at         []time.Duration
	start      time.Time
	writes     []string
	flushes    int
	writeErr   error
	flushErrAt int // the flush of that number (from 1) fails; 0: none
}

func (w *recWriter) Write(p []byte) (int, error) {
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	w.writes = append(w.writes, string(p))
	w.at = append(w.at, time.Since(w.start))
	return len(p), nil
}

func (w *recWriter) Flush() error {
	w.flushes++
	if w.flushes == w.flushErrAt {
		return errFlush
	}
	return nil
}

func (w *recWriter) Close() error { return nil }
func (w *recWriter) Reset() error { return nil }

// TestDelayWriteErrors: -delay_write flushes what is queued, sleeps, writes
// and flushes; each step's error ends the write with that error.
func TestDelayWriteErrors(t *testing.T) {
	boom := errors.New("write failed")
	tests := []struct {
		name        string
		w           *recWriter
		wantErr     error
		wantWrites  []string
		wantFlushes int
		wantAt      time.Duration // of the return
	}{
		{name: "ok", w: &recWriter{}, wantWrites: []string{"x"}, wantFlushes: 2, wantAt: 3 * time.Second},
		{name: "flush before the sleep fails", w: &recWriter{flushErrAt: 1}, wantErr: errFlush, wantFlushes: 1},
		{name: "write fails", w: &recWriter{writeErr: boom}, wantErr: boom, wantFlushes: 1, wantAt: 3 * time.Second},
		{name: "flush after the write fails", w: &recWriter{flushErrAt: 2}, wantErr: errFlush, wantWrites: []string{"x"}, wantFlushes: 2, wantAt: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var err error
				var n int
				var at time.Duration
				start := time.Now()
				tt.w.start = start
				h := epmd.DelayWrite(3 * time.Second)(epmd.HandlerFunc(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) {
					n, err = w.Write([]byte("x"))
					at = time.Since(start)
				}))
				h.ServeEPMD(context.Background(), tt.w, &epmd.Request{Kind: epmd.KindNames})
				if !errors.Is(err, tt.wantErr) || !slices.Equal(tt.w.writes, tt.wantWrites) || tt.w.flushes != tt.wantFlushes || at != tt.wantAt {
					t.Errorf("Write = %d, %v at %v; writes %q, %d flushes; want %v at %v, %q, %d flushes",
						n, err, at, tt.w.writes, tt.w.flushes, tt.wantErr, tt.wantAt, tt.wantWrites, tt.wantFlushes)
				}
				if wantN := len(tt.wantWrites); n != wantN {
					t.Errorf("Write returned n = %d, want %d", n, wantN)
				}
			})
		})
	}
}

// TestReplySucceededAtTwoBytes: a reply cut to its code and a zero result
// byte counts as succeeded; one byte does not.
func TestReplySucceededAtTwoBytes(t *testing.T) {
	tests := []struct {
		name string
		kind epmd.Kind
		head string
		want bool
	}{
		{name: "alive2 v, result 0", kind: epmd.KindAlive2, head: "v\x00", want: true},
		{name: "alive2 y, result 0", kind: epmd.KindAlive2, head: "y\x00", want: true},
		{name: "port_please, result 0", kind: epmd.KindPortPlease2, head: "w\x00", want: true},
		{name: "port_please code only", kind: epmd.KindPortPlease2, head: "w", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epmd.ReplySucceeded(tt.kind, []byte(tt.head)); got != tt.want {
				t.Errorf("ReplySucceeded(%v, %q) = %v, want %v", tt.kind, tt.head, got, tt.want)
			}
		})
	}
}
