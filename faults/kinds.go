package faults

import (
	"reflect"
	"slices"
	"strings"
)

// kindDef is everything the package knows about one fault kind: the
// parser, the injector, the kind-generic tests and the catalogue read it
// from here and nowhere else.
type kindDef struct {
	// name is the kind as written in specs (delay_write); its Action's
	// Kind returns the same.
	name string
	// syntax is the kind's spec form, for messages and the catalogue.
	syntax string
	// summary is the kind's effect in one line, for the catalogue.
	summary string
	// arg names the kind's argument ("duration", "bytes", ...) in
	// messages; "" when it takes none.
	arg string
	// keys are the kind's own keys besides the selectors.
	keys []string
	// acts is the set of request kinds it can act on; def is the set used
	// when the spec has no req=. Both are empty for kinds that act on the
	// daemon only.
	acts, def ReqSet
	// daemon marks kinds that act on the whole daemon (their Action is an
	// activator): only start= and for= apply.
	daemon bool
	// regNode makes node= select registrations rather than the request's
	// node name.
	regNode bool
	// parse builds the Action from the argument and the kind's keys.
	parse func(arg string, opts map[string]string) (Action, *partError)
	// example is a canonical spec of the kind: it parses and prints back
	// unchanged.
	example string
	// bad is a spec of the kind that does not parse, and badErr the text
	// of its error.
	bad, badErr string
}

// kindTable's methods are the fault kinds. A kind's file declares its
// Action type and one method of kindTable, named after that type, that
// returns the kind's kindDef; nothing else lists the kinds. The methods are
// read once, in kinds.
type kindTable struct{}

// kinds is the table of fault kinds, sorted by name. It is not changed
// after package initialization.
var kinds = kindTable{}.list()

// list calls every method of kindTable and returns the kinds by name.
func (t kindTable) list() []*kindDef {
	v := reflect.ValueOf(t)
	defs := make([]*kindDef, v.NumMethod())
	for i := range defs {
		defs[i] = v.Method(i).Interface().(func() *kindDef)()
	}
	slices.SortFunc(defs, func(a, b *kindDef) int { return strings.Compare(a.name, b.name) })
	return defs
}

// kindNamed returns the kind called name.
func kindNamed(name string) (*kindDef, bool) {
	i, ok := slices.BinarySearchFunc(kinds, name, func(k *kindDef, name string) int { return strings.Compare(k.name, name) })
	if !ok {
		return nil, false
	}
	return kinds[i], true
}

// Kinds returns the names of the fault kinds, sorted.
func Kinds() []string { return kindNames() }

func kindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return names
}
