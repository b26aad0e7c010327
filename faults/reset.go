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

func (Reset) appendArgs(b []byte) []byte { return b }

func (Reset) middleware(*Injector, *active) epmd.Middleware {
	return handle(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) { _ = w.Reset() })
}

var parseReset = noArg(Reset{})
