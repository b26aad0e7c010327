package faults

import (
	"context"
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

func (s *staleRegistry) Unregister(n *epmd.Node) bool {
	s.inj.log.LogAttrs(context.Background(), epmd.LevelDebug1, "registration kept stale",
		slog.String("fault", s.f.spec), slog.String("node", n.Name))
	time.AfterFunc(s.d, func() { s.Registry.Unregister(n) })
	return false
}

var parseStale = parseDurationArg(func(d time.Duration) Action { return Stale{d} })
