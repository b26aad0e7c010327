package faults

import (
	"context"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Drop is the drop fault: a selected request is read and the connection
// closed without a reply (FIN); with req=accept the connection is closed
// before anything is read, and if the client's request has already arrived
// the kernel answers that close with a RST, as it does any close that leaves
// data unread. An ALIVE2 dropped registers nothing.
type Drop struct{}

// Kind implements Action.
func (Drop) Kind() string { return "drop" }

// Drop is the drop kind.
func (kindTable) Drop() *kindDef {
	return &kindDef{
		name:    "drop",
		syntax:  "drop",
		summary: "close the connection without a reply (FIN; at accept, a RST if the request has arrived)",
		acts:    reqAll,
		def:     reqRequests,
		parse:   noArg(Drop{}),
		example: "drop,req=port_please,node=b*",
		bad:     "drop=5",
		badErr:  `fault "drop=5": drop: takes no argument; want drop`,
	}
}

func (Drop) appendArgs(b []byte) []byte { return b }

func (Drop) middleware(*Injector, *active) epmd.Middleware {
	return handle(func(_ context.Context, w epmd.ResponseWriter, _ *epmd.Request) { _ = w.Close() })
}
