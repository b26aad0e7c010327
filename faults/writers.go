package faults

import (
	"context"
	"slices"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// rewriteWriter hands each reply write to edit, on a copy, with the offset
// of the write within the reply.
type rewriteWriter struct {
	epmd.ResponseWriter
	off  int
	edit func(off int, p []byte)
}

func (w *rewriteWriter) Write(p []byte) (int, error) {
	q := slices.Clone(p)
	w.edit(w.off, q)
	w.off += len(p)
	return w.ResponseWriter.Write(q)
}

// rewriting returns a middleware that edits the replies of the requests it
// sees; edit returns the editing function for a request, or nil to leave
// its reply alone.
func rewriting(edit func(r *epmd.Request) func(off int, p []byte)) epmd.Middleware {
	return func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			if e := edit(r); e != nil {
				w = &rewriteWriter{ResponseWriter: w, edit: e}
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
}

// setBytes overwrites the reply bytes from index at with v, as far as they
// fall into the write p at offset off.
func setBytes(off int, p []byte, at int, v ...byte) {
	for i, b := range v {
		if j := at + i - off; j >= 0 && j < len(p) {
			p[j] = b
		}
	}
}

// byteAt returns the reply byte at index at if it falls into the write p at
// offset off.
func byteAt(off int, p []byte, at int) (byte, bool) {
	if j := at - off; j >= 0 && j < len(p) {
		return p[j], true
	}
	return 0, false
}

// handle returns a middleware that serves the requests it sees with h
// instead of passing them on.
func handle(h func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request)) epmd.Middleware {
	return func(epmd.Handler) epmd.Handler { return epmd.HandlerFunc(h) }
}

// withRegistry returns a middleware passing the requests on with the node
// table wrapped by wrap.
func withRegistry(wrap func(epmd.Registry) epmd.Registry) epmd.Middleware {
	return func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			next.ServeEPMD(ctx, w, r.WithRegistry(wrap(r.Registry)))
		})
	}
}

// parseDurationArg is the parse function of the kinds whose argument is a
// duration.
func parseDurationArg(mk func(time.Duration) Action) func(string, map[string]string) (Action, *partError) {
	return func(arg string, _ map[string]string) (Action, *partError) {
		d, perr := parseDuration("duration", arg, false)
		if perr != nil {
			return nil, perr
		}
		return mk(d), nil
	}
}

// noArg is the parse function of the kinds with no argument.
func noArg(a Action) func(string, map[string]string) (Action, *partError) {
	return func(string, map[string]string) (Action, *partError) { return a, nil }
}
