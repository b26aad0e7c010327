package faults_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// pieceWriter records what each flush sent.
type pieceWriter struct {
	queued []byte
	sent   []string
}

func (w *pieceWriter) Write(p []byte) (int, error) {
	w.queued = append(w.queued, p...)
	return len(p), nil
}
func (w *pieceWriter) Close() error { return nil }
func (w *pieceWriter) Reset() error { return nil }
func (w *pieceWriter) Flush() error {
	if len(w.queued) > 0 {
		w.sent = append(w.sent, string(w.queued))
		w.queued = nil
	}
	return nil
}

// TestSliceWhileShuttingDown: a slice without a gap waits for nothing, so
// a server shutting down (its context done) still gets the whole reply out
// in its pieces; with a gap, the wait before the second piece ends the
// reply there, with the context's error.
func TestSliceWhileShuttingDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		gap  time.Duration
		want string
		err  error
	}{{0, "[ab cd ef]", nil}, {time.Hour, "[ab]", context.Canceled}} {
		var werr error
		reply := epmd.HandlerFunc(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) {
			_, werr = w.Write([]byte("abcdef"))
		})
		pw := &pieceWriter{}
		faults.SliceMiddleware(faults.Slice{N: 2, Gap: tt.gap})(reply).ServeEPMD(ctx, pw, &epmd.Request{Kind: epmd.KindNames})
		if got := fmt.Sprint(pw.sent); got != tt.want || werr != tt.err {
			t.Errorf("slice=2,gap=%v after shutdown: sent %s, Write error %v; want %s, %v", tt.gap, got, werr, tt.want, tt.err)
		}
	}
}
