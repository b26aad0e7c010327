package faults

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Slice is the slice=N fault: every write of a selected reply is sent as
// N-byte pieces, each in its own write(), Gap apart (gap=DUR; also between
// the writes of a reply). Clients that expect a reply in one read (OTP's
// ALIVE2 reply handling, NAMES' port) see it split.
type Slice struct {
	N   int
	Gap time.Duration
}

// Kind implements Action.
func (Slice) Kind() string { return "slice" }

// Slice is the slice kind.
func (kindTable) Slice() *kindDef {
	return &kindDef{
		name:    "slice",
		syntax:  "slice=N[,gap=DUR]",
		summary: "send every reply write as N-byte pieces, gap apart",
		arg:     "bytes",
		keys:    []string{"gap"},
		acts:    reqRequests,
		def:     reqRequests,
		parse:   parseSlice,
		example: "slice=1,gap=100ms,req=alive2",
		bad:     "slice=0",
		badErr:  `fault "slice=0": bytes: want a whole number from 1 to 2147483647`,
	}
}

func (a Slice) appendArgs(b []byte) []byte {
	b = strconv.AppendInt(append(b, '='), int64(a.N), 10)
	if a.Gap != 0 {
		b = appendDuration(append(b, ",gap="...), a.Gap)
	}
	return b
}

func (a Slice) middleware(*Injector, *active) epmd.Middleware {
	return func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			next.ServeEPMD(ctx, &sliceWriter{ResponseWriter: w, ctx: ctx, n: a.N, gap: a.Gap}, r)
		})
	}
}

type sliceWriter struct {
	epmd.ResponseWriter
	ctx  context.Context
	n    int
	gap  time.Duration
	sent bool
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	if err := w.ResponseWriter.Flush(); err != nil {
		return 0, err
	}
	done := 0
	for done < len(p) {
		if w.sent && w.gap > 0 {
			if err := epmd.Sleep(w.ctx, w.gap); err != nil {
				return done, err
			}
		}
		piece := p[done:min(done+w.n, len(p))]
		n, err := w.ResponseWriter.Write(piece)
		done += n
		if err == nil {
			err = w.ResponseWriter.Flush()
		}
		if err != nil {
			return done, err
		}
		w.sent = true
	}
	return done, nil
}

func parseSlice(arg string, opts map[string]string) (Action, *partError) {
	n, perr := parseInt("bytes", arg, 1, math.MaxInt32)
	if perr != nil {
		return nil, perr
	}
	a := Slice{N: n}
	if v, ok := opts["gap"]; ok {
		if a.Gap, perr = parseDuration("gap", v, true); perr != nil {
			return nil, perr
		}
	}
	return a, nil
}
