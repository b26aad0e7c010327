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

// TestREADMEEntries: the kinds' part of faults/README.md (between the
// first two "---" lines) has one "## KIND" section per kind of the table,
// and no other.
func TestREADMEEntries(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(b), "\n---\n", 3)
	if len(parts) != 3 {
		t.Fatalf("README.md: want the kinds between two \"---\" lines, found %d parts", len(parts))
	}
	var sections []string
	for _, line := range strings.Split(parts[1], "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			sections = append(sections, name)
		}
	}
	for _, k := range faults.Kinds() {
		if !slices.Contains(sections, k) {
			t.Errorf("README.md has no section \"## %s\" for kind %s", k, k)
		}
	}
	for _, s := range sections {
		if !slices.Contains(faults.Kinds(), s) {
			t.Errorf("README.md has a section \"## %s\" but no such kind", s)
		}
	}
	if n := len(sections); n != len(slices.Compact(slices.Sorted(slices.Values(sections)))) {
		t.Errorf("README.md repeats a kind's section: %q", sections)
	}
}
