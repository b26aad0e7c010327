package faults

import (
	"context"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Hang is the hang fault: a selected request is read and never answered;
// the connection stays open, without packet timeout, until the client
// closes it (what it then sends is discarded). With req=accept nothing is
// read at all. An ALIVE2 that hangs registers nothing.
type Hang struct{}

// Kind implements Action.
func (Hang) Kind() string { return "hang" }

// Hang is the hang kind.
func (kindTable) Hang() *kindDef {
	return &kindDef{
		name:    "hang",
		syntax:  "hang",
		summary: "read the request and never answer",
		acts:    reqAll,
		def:     reqRequests,
		parse:   noArg(Hang{}),
		example: "hang,req=alive2,node=a*",
		bad:     "hang,then=close",
		badErr:  `fault "hang,then=close": then: unknown key; want req|node|peer|p|first|every|after|start|for`,
	}
}

func (Hang) appendArgs(b []byte) []byte { return b }

func (Hang) middleware(*Injector, *active) epmd.Middleware {
	return handle(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
		_ = r.Conn.AwaitClose(ctx)
		_ = w.Close()
	})
}
