package faults

import (
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// DelayWrite is the delay_write=DUR fault: D before every write of a
// selected reply, each write sent at once (NAMES and DUMP wait once for the
// port and once per line). With no selector it is epmd's -delay_write D
// (epmd.DelayWrite).
type DelayWrite struct{ D time.Duration }

// Kind implements Action.
func (DelayWrite) Kind() string { return "delay_write" }

// DelayWrite is the delay_write kind.
func (kindTable) DelayWrite() *kindDef {
	return &kindDef{
		name:    "delay_write",
		syntax:  "delay_write=DUR",
		summary: "DUR before every write of a selected reply (epmd's -delay_write)",
		arg:     "duration",
		acts:    reqRequests,
		def:     reqRequests,
		parse:   parseDurationArg(func(d time.Duration) Action { return DelayWrite{d} }),
		example: "delay_write=200ms,req=port_please",
		bad:     "delay_write=abc",
		badErr:  `fault "delay_write=abc": duration: want seconds (5) or a Go duration (200ms)`,
	}
}

func (a DelayWrite) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a DelayWrite) middleware(*Injector, *active) epmd.Middleware { return epmd.DelayWrite(a.D) }
