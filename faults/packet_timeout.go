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

// PacketTimeout is the packet_timeout kind.
func (kindTable) PacketTimeout() *kindDef {
	return &kindDef{
		name:    "packet_timeout",
		syntax:  "packet_timeout=DUR",
		summary: "close a connection without a complete request after DUR (epmd's -packet_timeout)",
		arg:     "duration",
		acts:    reqAccept,
		def:     reqAccept,
		parse:   parseDurationArg(func(d time.Duration) Action { return PacketTimeout{d} }),
		example: "packet_timeout=1,peer=10.0.0.0/8",
		bad:     "packet_timeout",
		badErr:  `fault "packet_timeout": duration: missing; want packet_timeout=DUR`,
	}
}

func (a PacketTimeout) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a PacketTimeout) middleware(*Injector, *active) epmd.Middleware {
	return epmd.PacketTimeout(a.D)
}
