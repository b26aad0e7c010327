package faults

import (
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// DelayAccept is the delay_accept=DUR fault: each selected new connection
// waits D before anything is read from it. With no selector it is epmd's
// -delay_accept D (epmd.DelayAccept), except that only the new connection
// waits, not the whole daemon (see stall for that).
type DelayAccept struct{ D time.Duration }

// Kind implements Action.
func (DelayAccept) Kind() string { return "delay_accept" }

func (a DelayAccept) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a DelayAccept) middleware(*Injector, *active) epmd.Middleware { return epmd.DelayAccept(a.D) }

var parseDelayAccept = parseDurationArg(func(d time.Duration) Action { return DelayAccept{d} })
