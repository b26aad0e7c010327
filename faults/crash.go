package faults

import (
	"context"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Crash is the crash fault: when its window opens (at once, or after
// start=) every registration is dropped and its connection closed, as when
// epmd dies; for for=DUR (until the fault is removed, without for=) every
// new connection is reset as soon as it is accepted. Then the daemon
// serves again, with an empty node table. It acts on the whole daemon:
// only start= and for= apply.
type Crash struct{}

// Kind implements Action.
func (Crash) Kind() string { return "crash" }

// Crash is the crash kind.
func (kindTable) Crash() *kindDef {
	return &kindDef{
		name:    "crash",
		syntax:  "crash[,start=DUR][,for=DUR]",
		summary: "drop every registration and reset new connections, as if epmd died",
		acts:    reqAccept,
		def:     reqAccept,
		daemon:  true,
		parse:   noArg(Crash{}),
		example: "crash,start=30,for=10",
		bad:     "crash,req=accept",
		badErr:  `fault "crash,req=accept": req: crash acts on the whole daemon; only start= and for= apply`,
	}
}

func (Crash) appendArgs(b []byte) []byte { return b }

func (Crash) middleware(*Injector, *active) epmd.Middleware {
	return handle(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) { _ = w.Reset() })
}

func (Crash) activate(inj *Injector, _ *active) func() {
	inj.dropRegistrations()
	return func() {}
}
