package faults_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestCatalogue: one complete entry per kind, sorted by name, whose example
// parses to a fault of that kind and is printed back unchanged.
func TestCatalogue(t *testing.T) {
	docs := faults.Catalogue()
	var names []string
	for _, d := range docs {
		names = append(names, d.Name)
		if d.Syntax == "" || d.Summary == "" || d.Example == "" {
			t.Errorf("%s: incomplete entry %+v", d.Name, d)
		}
		f, err := faults.Parse(d.Example)
		if err != nil || f.Kind() != d.Name || f.String() != d.Example {
			t.Errorf("%s: example %q parses to %q (kind %q), %v", d.Name, d.Example, f, f.Kind(), err)
		}
	}
	if !slices.Equal(names, faults.Kinds()) {
		t.Errorf("catalogue names %q, want the kinds %q", names, faults.Kinds())
	}
}

// TestREADMEEntries: faults/README.md has a "## KIND" section for every
// kind.
func TestREADMEEntries(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range faults.Catalogue() {
		if !strings.Contains(string(b), "\n## "+d.Name+"\n") {
			t.Errorf("README.md has no section \"## %s\"", d.Name)
		}
	}
}
