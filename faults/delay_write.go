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

func (a DelayWrite) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a DelayWrite) middleware(*Injector, *active) epmd.Middleware { return epmd.DelayWrite(a.D) }

var parseDelayWrite = parseDurationArg(func(d time.Duration) Action { return DelayWrite{d} })
