package faults

// KindDoc describes a fault kind for the command line's help and the
// documentation.
type KindDoc struct {
	// Name is the kind as written in specs (delay_write).
	Name string
	// Syntax is the kind's spec form (delay_write=DUR).
	Syntax string
	// Summary is the kind's effect in one line.
	Summary string
	// Example is a valid spec of the kind.
	Example string
}

// Catalogue describes every fault kind, sorted by name.
func Catalogue() []KindDoc {
	docs := make([]KindDoc, len(kinds))
	for i, k := range kinds {
		docs[i] = KindDoc{Name: k.name, Syntax: k.syntax, Summary: k.summary, Example: k.example}
	}
	return docs
}
