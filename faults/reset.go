package faults

import (
	"context"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Reset is the reset fault: like drop, but the connection is closed with
// a TCP RST (SO_LINGER 0), so the client's next read or write fails with
// ECONNRESET.
type Reset struct{}

// Kind implements Action.
func (Reset) Kind() string { return "reset" }

// Reset is the reset kind.
func (kindTable) Reset() *kindDef {
	return &kindDef{
		name:    "reset",
		syntax:  "reset",
		summary: "close the connection without a reply (RST)",
		acts:    reqAll,
		def:     reqRequests,
		parse:   noArg(Reset{}),
		example: "reset,req=accept,p=0.1",
		bad:     "reset=1",
		badErr:  `fault "reset=1": reset: takes no argument; want reset`,
	}
}

func (Reset) appendArgs(b []byte) []byte { return b }

func (Reset) middleware(*Injector, *active) epmd.Middleware {
	return handle(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) { _ = w.Reset() })
}
