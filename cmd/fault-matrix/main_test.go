package main_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// committed reads the committed matrix.
func committed(t *testing.T) matrix.File {
	t.Helper()
	f, err := os.Open("../../scenarios/testdata/fault-matrix.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := matrix.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryKindHasARow: the scenarios observed every fault kind on a real
// node, and the committed matrix says what happened.
func TestEveryKindHasARow(t *testing.T) {
	rows := committed(t).Rows
	for _, k := range faults.Kinds() {
		if !slices.ContainsFunc(rows, func(r matrix.Row) bool { return r.Kind == k }) {
			t.Errorf("fault kind %s has no row in scenarios/testdata/fault-matrix.json: record one from a scenario (recordOutcome), then make fault-matrix", k)
		}
	}
}

// TestEveryKindOnEverySubject: every fault kind was observed on OTP 25,
// on OTP 29, on an Elixir node or release, and on a RabbitMQ release.
func TestEveryKindOnEverySubject(t *testing.T) {
	rows := committed(t).Rows
	subjects := []struct {
		name string
		is   func(string) bool
	}{
		{"OTP 25", func(s string) bool { return s == "OTP 25" }},
		{"OTP 29", func(s string) bool { return s == "OTP 29" }},
		{"Elixir", func(s string) bool { return strings.HasPrefix(s, "Elixir ") || strings.Contains(s, ", Elixir ") }},
		{"RabbitMQ", func(s string) bool { return strings.HasPrefix(s, "RabbitMQ ") }},
	}
	for _, k := range faults.Kinds() {
		for _, sub := range subjects {
			if !slices.ContainsFunc(rows, func(r matrix.Row) bool { return r.Kind == k && sub.is(r.Subject) }) {
				t.Errorf("fault kind %s has no row on %s in scenarios/testdata/fault-matrix.json", k, sub.name)
			}
		}
	}
}

// TestEveryRowIsSorted: the committed matrix is as cmd/fault-matrix writes
// it, with no filter and its rows in order.
func TestEveryRowIsSorted(t *testing.T) {
	m := committed(t)
	sorted := slices.Clone(m.Rows)
	matrix.Sort(sorted)
	if m.Filter != "" || !slices.Equal(m.Rows, sorted) {
		t.Errorf("scenarios/testdata/fault-matrix.json: filter %q, rows sorted %v: run make fault-matrix", m.Filter, slices.Equal(m.Rows, sorted))
	}
}

// TestDocsUpToDate: the README's table of kinds and faults/README.md's
// observations are what the committed matrix generates.
func TestDocsUpToDate(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	faultsReadme, err := os.ReadFile("../../faults/README.md")
	if err != nil {
		t.Fatal(err)
	}
	r, f, err := matrix.Docs(matrix.Kinds(), committed(t).Rows, string(readme), string(faultsReadme))
	if err != nil {
		t.Fatal(err)
	}
	if r != string(readme) {
		t.Error("README.md's table of fault kinds is not the committed matrix's: run make fault-matrix")
	}
	if f != string(faultsReadme) {
		t.Error("faults/README.md's observations are not the committed matrix's: run make fault-matrix")
	}
}
