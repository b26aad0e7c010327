package faults

import (
	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Forget is the forget fault: for selected lookups (PORT_PLEASE2, NAMES,
// DUMP) the registrations whose names match node= (all when it is absent)
// are not there: PORT_PLEASE2 answers `w 01`, NAMES and DUMP leave them
// out. The registrations themselves, and their connections, are untouched:
// a new ALIVE2 of such a name is still refused as a duplicate.
type Forget struct{}

// Kind implements Action.
func (Forget) Kind() string { return "forget" }

// Forget is the forget kind.
func (kindTable) Forget() *kindDef {
	return &kindDef{
		name:    "forget",
		syntax:  "forget",
		summary: "hide registrations from PORT_PLEASE2, NAMES and DUMP",
		acts:    reqLookups,
		def:     reqLookups,
		regNode: true,
		parse:   noArg(Forget{}),
		example: "forget,node=b1,for=60",
		bad:     "forget,req=alive2",
		badErr:  `fault "forget,req=alive2": req: forget cannot act on alive2; want port_please|names|dump`,
	}
}

func (Forget) appendArgs(b []byte) []byte { return b }

func (Forget) middleware(_ *Injector, f *active) epmd.Middleware {
	glob := f.fault.Node
	return withRegistry(func(reg epmd.Registry) epmd.Registry { return forgettingRegistry{reg, glob} })
}

// forgettingRegistry hides the nodes whose names match glob ("" = all).
type forgettingRegistry struct {
	epmd.Registry
	glob string
}

func (f forgettingRegistry) hides(name string) bool { return f.glob == "" || globMatch(f.glob, name) }

func (f forgettingRegistry) Lookup(name string) (*epmd.Node, bool) {
	if f.hides(name) {
		return nil, false
	}
	return f.Registry.Lookup(name)
}

func (f forgettingRegistry) Nodes(dst []*epmd.Node) []*epmd.Node {
	start := len(dst)
	dst = f.Registry.Nodes(dst)
	kept := dst[:start]
	for _, n := range dst[start:] {
		if !f.hides(n.Name) {
			kept = append(kept, n)
		}
	}
	return kept
}
