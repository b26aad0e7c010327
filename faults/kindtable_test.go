package faults_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// The kind-generic tests: everything they need about a kind comes from
// its entry in the table, so a new kind is tested by them as soon as its
// file exists.

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestKindTable: every entry is complete and consistent: a snake_case
// name, a syntax and a summary; an example that parses to a fault of the
// kind, prints back unchanged and is comparable (so Parse(f.String()) ==
// f can be checked with ==); a bad spec that fails with the entry's error
// text; an Action that acts on requests exactly when the kind has request
// types, and on the whole daemon exactly when the kind says so.
func TestKindTable(t *testing.T) {
	for _, k := range faults.KindTable() {
		t.Run(k.Name, func(t *testing.T) {
			if !snakeCase.MatchString(k.Name) {
				t.Errorf("name %q is not snake_case", k.Name)
			}
			if !strings.HasPrefix(k.Syntax, k.Name) || k.Summary == "" {
				t.Errorf("syntax %q (want it to start with the name), summary %q", k.Syntax, k.Summary)
			}
			if k.Default&^k.Acts != 0 {
				t.Errorf("default requests %v not all in %v", k.Default, k.Acts)
			}
			f, err := faults.Parse(k.Example)
			if err != nil {
				t.Fatalf("example %q: %v", k.Example, err)
			}
			if f.Kind() != k.Name || f.String() != k.Example {
				t.Errorf("example %q parses to kind %q, printed %q", k.Example, f.Kind(), f.String())
			}
			if typ := reflect.TypeOf(f.Action); !typ.Comparable() {
				t.Fatalf("Action type %v is not comparable", typ)
			}
			if again, err := faults.Parse(f.String()); err != nil || again != f {
				t.Errorf("Parse(%q) = %#v, %v; want %#v", f.String(), again, err, f)
			}
			requests, daemon := faults.ActsOn(f.Action)
			if requests != (k.Acts != 0) || daemon != k.Daemon {
				t.Errorf("acts on requests %v, on the daemon %v; the entry says requests %v, daemon %v",
					requests, daemon, k.Acts, k.Daemon)
			}
			_, err = faults.Parse(k.Bad)
			var se *faults.SpecError
			if !errors.As(err, &se) || err.Error() != k.BadErr {
				t.Errorf("Parse(%q) error = %v, want %s", k.Bad, err, k.BadErr)
			}
			if bad, _, _ := strings.Cut(k.Bad, ","); !strings.HasPrefix(bad, k.Name) {
				t.Errorf("bad spec %q is not of the kind", k.Bad)
			}
		})
	}
}

// TestKindExamplesInstall: every kind's example installs, is listed with
// its canonical spec and is removed again.
func TestKindExamplesInstall(t *testing.T) {
	for _, k := range faults.KindTable() {
		t.Run(k.Name, func(t *testing.T) {
			inj := faults.NewInjector(1, nil)
			defer inj.Close()
			info, err := inj.AddSpec(k.Example)
			if err != nil {
				t.Fatalf("AddSpec(%q): %v", k.Example, err)
			}
			if got := inj.Faults(); len(got) != 1 || got[0].Spec != k.Example || got[0].ID != info.ID {
				t.Errorf("Faults() = %+v, want the one fault %q", got, k.Example)
			}
			if !inj.Remove(info.ID) || len(inj.Faults()) != 0 {
				t.Errorf("Remove(%d): faults left %+v", info.ID, inj.Faults())
			}
		})
	}
}

// TestAddUnknownKind: a fault whose kind is not in the table is refused
// with an error naming it, and nothing is installed.
func TestAddUnknownKind(t *testing.T) {
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	_, err := inj.Add(faults.Fault{Action: faults.Unlisted{}})
	if want := `add fault: kind "unlisted": unknown fault kind`; !errors.Is(err, faults.ErrUnknownKind) || err.Error() != want {
		t.Errorf("Add error = %v, want %s", err, want)
	}
	_, err = inj.Add(faults.Fault{})
	if want := `add fault: kind "": unknown fault kind`; !errors.Is(err, faults.ErrUnknownKind) || err.Error() != want {
		t.Errorf("Add(Fault{}) error = %v, want %s", err, want)
	}
	if got := inj.Faults(); len(got) != 0 {
		t.Errorf("installed %+v, want none", got)
	}
}
