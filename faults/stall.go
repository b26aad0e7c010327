package faults

import (
	"context"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Stall is the stall=DUR fault: a selected request (by default a new
// connection) freezes the whole daemon for D, as the C epmd's blocking
// sleeps do: no connection proceeds, no request is served, no reply byte
// is written and no registration ends until D has passed. Requests that
// arrive meanwhile wait, then are selected in turn, so with no counter
// selector every connection freezes the daemon again; stall=5,first=1
// freezes it once. A freeze ends with the fault's window (for=, and so
// -max-fault-for) and when the fault is removed, whichever comes first.
type Stall struct{ D time.Duration }

// Kind implements Action.
func (Stall) Kind() string { return "stall" }

// Stall is the stall kind.
func (kindTable) Stall() *kindDef {
	return &kindDef{
		name:    "stall",
		syntax:  "stall=DUR",
		summary: "freeze the whole daemon for DUR",
		arg:     "duration",
		acts:    reqAll,
		def:     reqAccept,
		parse:   parseDurationArg(func(d time.Duration) Action { return Stall{d} }),
		example: "stall=10,first=1,start=30",
		bad:     "stall=99999999999999",
		badErr:  `fault "stall=99999999999999": duration: too large; want seconds (5) or a Go duration (200ms)`,
	}
}

func (a Stall) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a Stall) middleware(inj *Injector, f *active) epmd.Middleware {
	return func(next epmd.Handler) epmd.Handler {
		return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
			until := time.Now().Add(a.D)
			if end, ok := f.windowEnd(); ok && end.Before(until) {
				until = end
			}
			inj.gate.freeze(f.id, until)
			if inj.gate.wait(ctx) != nil {
				return
			}
			next.ServeEPMD(ctx, w, r)
		})
	}
}
