package faults

import (
	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// NameInUse is the name_in_use fault: a selected ALIVE2 is refused as if
// its name were registered already: result 1, creation 99 (`v 01 00 00 00
// 63`, or `y 01 00 63` for HighVsn < 6), the connection kept open, exactly
// as epmd answers a duplicate name. Nothing is registered.
type NameInUse struct{}

// Kind implements Action.
func (NameInUse) Kind() string { return "name_in_use" }

// NameInUse is the name_in_use kind.
func (kindTable) NameInUse() *kindDef {
	return &kindDef{
		name:    "name_in_use",
		syntax:  "name_in_use",
		summary: "refuse ALIVE2 as a duplicate name",
		acts:    Reqs(kindAlive2),
		def:     Reqs(kindAlive2),
		parse:   noArg(NameInUse{}),
		example: "name_in_use,node=a*",
		bad:     "name_in_use,req=names",
		badErr:  `fault "name_in_use,req=names": req: name_in_use cannot act on names; want alive2`,
	}
}

func (NameInUse) appendArgs(b []byte) []byte { return b }

func (NameInUse) middleware(*Injector, *active) epmd.Middleware {
	return withRegistry(func(reg epmd.Registry) epmd.Registry { return refusingRegistry{reg} })
}

// refusingRegistry refuses every registration as a duplicate.
type refusingRegistry struct{ epmd.Registry }

func (refusingRegistry) Register(epmd.Node) (*epmd.Node, error) { return nil, epmd.ErrNameInUse }
