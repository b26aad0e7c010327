package faults

import "github.com/chaos-epmd/chaos-epmd/epmd"

// KindEntry is a kind's entry in the table of kinds, as the kind-generic
// tests (package faults_test) see it.
type KindEntry struct {
	Name, Syntax, Summary, Arg string
	Keys                       []string
	Acts, Default              ReqSet
	Daemon                     bool
	Example, Bad, BadErr       string
}

// KindTable returns the table of kinds, sorted by name.
func KindTable() []KindEntry {
	out := make([]KindEntry, len(kinds))
	for i, k := range kinds {
		out[i] = KindEntry{Name: k.name, Syntax: k.syntax, Summary: k.summary, Arg: k.arg, Keys: k.keys,
			Acts: k.acts, Default: k.def, Daemon: k.daemon, Example: k.example, Bad: k.bad, BadErr: k.badErr}
	}
	return out
}

// ActsOn reports the ways a acts: on selected requests (it has a
// middleware), on the whole daemon (it is an activator), or both.
func ActsOn(a Action) (requests, daemon bool) {
	_, requests = a.(requestAction)
	_, daemon = a.(activator)
	return requests, daemon
}

// Unlisted is an Action whose kind is not in the table.
type Unlisted struct{}

// Kind implements Action.
func (Unlisted) Kind() string { return "unlisted" }

func (Unlisted) appendArgs(b []byte) []byte { return b }

// SliceMiddleware is a Slice's middleware, whatever the injector.
func SliceMiddleware(a Slice) epmd.Middleware { return a.middleware(nil, nil) }
