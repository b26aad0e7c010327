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

// DelayAccept is the delay_accept kind.
func (kindTable) DelayAccept() *kindDef {
	return &kindDef{
		name:    "delay_accept",
		syntax:  "delay_accept=DUR",
		summary: "each selected new connection waits DUR before anything is read",
		arg:     "duration",
		acts:    reqAccept,
		def:     reqAccept,
		parse:   parseDurationArg(func(d time.Duration) Action { return DelayAccept{d} }),
		example: "delay_accept=2,peer=10.0.0.0/8",
		bad:     "delay_accept=1,req=names",
		badErr:  `fault "delay_accept=1,req=names": req: delay_accept cannot act on names; want accept`,
	}
}

func (a DelayAccept) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a DelayAccept) middleware(*Injector, *active) epmd.Middleware { return epmd.DelayAccept(a.D) }
