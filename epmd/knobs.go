package epmd

import (
	"context"
	"time"
)

// The C epmd's three debug knobs, as middleware on the seam. The epmd
// command's -delay_accept, -delay_write and -packet_timeout flags install
// them; the faults package composes them with selectors.

// DelayAccept holds each new connection for d before anything is read from
// it (-delay_accept). Unlike the C epmd, whose sleep blocks the whole
// server, only the new connection waits.
func DelayAccept(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) {
			if r.Kind == KindAccept && Sleep(ctx, d) != nil {
				return
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
}

// DelayWrite sleeps d before every reply write and sends each write at
// once (-delay_write): a NAMES reply sleeps once for the port and once per
// node, as in the C epmd.
func DelayWrite(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) {
			next.ServeEPMD(ctx, &delayedWriter{ResponseWriter: w, ctx: ctx, d: d}, r)
		})
	}
}

type delayedWriter struct {
	ResponseWriter
	ctx context.Context
	d   time.Duration
}

func (w *delayedWriter) Write(p []byte) (int, error) {
	if err := w.ResponseWriter.Flush(); err != nil {
		return 0, err
	}
	if err := Sleep(w.ctx, w.d); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.ResponseWriter.Flush()
}

// PacketTimeout closes connections that are not registrations after d
// without data (-packet_timeout).
func PacketTimeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) {
			if r.Kind == KindAccept {
				r.Conn.SetPacketTimeout(d)
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
}

// Sleep waits for d, or until ctx is done, whose error it returns then.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
