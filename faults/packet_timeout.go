package faults

import (
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// PacketTimeout is the packet_timeout=DUR fault: a selected connection
// that is not a registration is closed after D without data. With no
// selector it is epmd's -packet_timeout D (epmd.PacketTimeout).
type PacketTimeout struct{ D time.Duration }

// Kind implements Action.
func (PacketTimeout) Kind() string { return "packet_timeout" }

func (a PacketTimeout) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a PacketTimeout) middleware(*Injector, *active) epmd.Middleware {
	return epmd.PacketTimeout(a.D)
}

var parsePacketTimeout = parseDurationArg(func(d time.Duration) Action { return PacketTimeout{d} })
