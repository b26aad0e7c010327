package faults

import (
	"context"
	"math"
	"net"
	"strconv"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// PartialWrite is the partial_write=N fault: at most the first N bytes of
// a selected reply are sent, then the connection is closed (Then "" or
// "close": FIN), reset ("reset": RST) or held open until the client closes
// it ("hang"). The cut is made at N bytes or at the end of a shorter
// reply, so a registration's connection is cut too, ending it.
type PartialWrite struct {
	N    int
	Then string
}

// Kind implements Action.
func (PartialWrite) Kind() string { return "partial_write" }

// PartialWrite is the partial_write kind.
func (kindTable) PartialWrite() *kindDef {
	return &kindDef{
		name:    "partial_write",
		syntax:  "partial_write=N[,then=close|hang|reset]",
		summary: "send the first N bytes of the reply, then close, hang or reset",
		arg:     "bytes",
		keys:    []string{"then"},
		acts:    reqRequests,
		def:     reqRequests,
		parse:   parsePartialWrite,
		example: "partial_write=5,req=alive2",
		bad:     "partial_write=3,then=explode",
		badErr:  `fault "partial_write=3,then=explode": then: want close, hang or reset`,
	}
}

func (a PartialWrite) appendArgs(b []byte) []byte {
	b = strconv.AppendInt(append(b, '='), int64(a.N), 10)
	if a.Then != "" && a.Then != "close" {
		b = append(b, ",then="...)
		b = append(b, a.Then...)
	}
	return b
}

func (a PartialWrite) middleware(*Injector, *active) epmd.Middleware {
	return func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			pw := &partialWriter{ResponseWriter: w, ctx: ctx, conn: r.Conn, left: a.N, then: a.Then}
			next.ServeEPMD(ctx, pw, r)
			if !pw.cut {
				pw.finish()
			}
		})
	}
}

type partialWriter struct {
	epmd.ResponseWriter
	ctx  context.Context
	conn *epmd.Conn
	left int
	then string
	cut  bool
}

func (w *partialWriter) Write(p []byte) (int, error) {
	if w.cut {
		return 0, net.ErrClosed
	}
	if len(p) < w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	n, err := w.ResponseWriter.Write(p[:w.left])
	w.left = 0
	w.finish()
	if err == nil {
		err = net.ErrClosed
	}
	return n, err
}

// finish sends what was written and ends the connection as Then says.
func (w *partialWriter) finish() {
	w.cut = true
	_ = w.ResponseWriter.Flush()
	switch w.then {
	case "reset":
		_ = w.ResponseWriter.Reset()
	case "hang":
		_ = w.conn.AwaitClose(w.ctx)
		_ = w.ResponseWriter.Close()
	default:
		_ = w.ResponseWriter.Close()
	}
}

func parsePartialWrite(arg string, opts map[string]string) (Action, *partError) {
	n, perr := parseInt("bytes", arg, 0, math.MaxInt32)
	if perr != nil {
		return nil, perr
	}
	a := PartialWrite{N: n}
	switch t := opts["then"]; t {
	case "", "close":
	case "hang", "reset":
		a.Then = t
	default:
		return nil, errf("then", "want close, hang or reset")
	}
	return a, nil
}
