package faults

import (
	"log/slog"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Stale is the stale=DUR fault: a node registered by a selected ALIVE2
// stays registered for D after its connection ends, so PORT_PLEASE2 and
// NAMES keep returning its (dead) port and a new ALIVE2 of the name is
// refused as a duplicate meanwhile. STOP still removes it at once.
type Stale struct{ D time.Duration }

// Kind implements Action.
func (Stale) Kind() string { return "stale" }

// Stale is the stale kind.
func (kindTable) Stale() *kindDef {
	return &kindDef{
		name:    "stale",
		syntax:  "stale=DUR",
		summary: "keep a registration for DUR after its connection ends",
		arg:     "duration",
		acts:    Reqs(kindAlive2),
		def:     Reqs(kindAlive2),
		parse:   parseDurationArg(func(d time.Duration) Action { return Stale{d} }),
		example: "stale=30,node=worker*",
		bad:     "stale=0",
		badErr:  `fault "stale=0": duration: must be more than 0; want seconds (5) or a Go duration (200ms)`,
	}
}

func (a Stale) appendArgs(b []byte) []byte { return appendDuration(append(b, '='), a.D) }

func (a Stale) middleware(inj *Injector, f *active) epmd.Middleware {
	return withRegistry(func(reg epmd.Registry) epmd.Registry {
		return &staleRegistry{Registry: reg, inj: inj, f: f, d: a.D}
	})
}

// staleRegistry puts off the end of registrations.
type staleRegistry struct {
	epmd.Registry
	inj *Injector
	f   *active
	d   time.Duration
}

// Unregister ends n's registration as its connection sees it and leaves
// the node in the table for d. It reports true, as the table would, so
// that the server logs the end of the registration as usual; a node that
// is no longer n's registration (a STOP removed it) is left to the table.
func (s *staleRegistry) Unregister(n *epmd.Node) bool {
	if cur, ok := s.Registry.Lookup(n.Name); !ok || cur != n {
		return s.Registry.Unregister(n)
	}
	s.inj.logFault(s.f, "registration kept stale", nil, slog.String("node", n.Name))
	time.AfterFunc(s.d, func() { s.Registry.Unregister(n) })
	return true
}
