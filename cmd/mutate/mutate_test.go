package main

import (
	"bufio"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseEquivalents(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []equivalent
		wantErr error
	}{
		{
			name: "two entries, comments, continued reason",
			text: "# comment\n\nepmd/registry.go CONDITIONALS_BOUNDARY @5\n\tcode: if c < 4 {\n\twhy: c is never 4\n\t  here.\nfaults/x.go ARITHMETIC_BASE @0\n  code: n + 1\n  why: unused\n",
			want: []equivalent{
				{File: "epmd/registry.go", Type: "CONDITIONALS_BOUNDARY", Offset: 5, Code: "if c < 4 {", Why: "c is never 4 here."},
				{File: "faults/x.go", Type: "ARITHMETIC_BASE", Offset: 0, Code: "n + 1", Why: "unused"},
			},
		},
		{name: "header without offset", text: "epmd/a.go ARITHMETIC_BASE\n", wantErr: ErrEquivalentSyntax},
		{name: "offset not a number", text: "epmd/a.go ARITHMETIC_BASE @x\n", wantErr: ErrEquivalentSyntax},
		{name: "no reason", text: "epmd/a.go ARITHMETIC_BASE @1\n\tcode: a + b\n", wantErr: ErrEquivalentSyntax},
		{name: "indented line first", text: "\tcode: a + b\n", wantErr: ErrEquivalentSyntax},
		{name: "unknown field", text: "epmd/a.go ARITHMETIC_BASE @1\n\tcode: a + b\n\tfoo: bar\n", wantErr: ErrEquivalentSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEquivalents(bufio.NewScanner(strings.NewReader(tt.text)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i, e := range got {
				w := tt.want[i]
				if e.File != w.File || e.Type != w.Type || e.Offset != w.Offset || e.Code != w.Code || e.Why != w.Why {
					t.Errorf("entry %d = %+v, want %+v", i, *e, w)
				}
			}
		})
	}
}

func TestTheCommittedEquivalentsParse(t *testing.T) {
	list, err := readEquivalents("equivalent.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if !strings.HasPrefix(e.File, "epmd/") && !strings.HasPrefix(e.File, "faults/") {
			t.Errorf("line %d: %s is not in epmd or faults", e.line, e.File)
		}
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		column     int
		wantCode   string
		wantOffset int
	}{
		{name: "tabs", line: "\t\tif c < 4 {", column: 8, wantCode: "if c < 4 {", wantOffset: 5},
		{name: "no indentation", line: "x := a + b", column: 8, wantCode: "x := a + b", wantOffset: 7},
		{name: "trailing space", line: "\treturn n - 1  ", column: 11, wantCode: "return n - 1", wantOffset: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, off := locate(tt.line, tt.column)
			if code != tt.wantCode || off != tt.wantOffset {
				t.Errorf("locate(%q, %d) = %q, %d; want %q, %d", tt.line, tt.column, code, off, tt.wantCode, tt.wantOffset)
			}
		})
	}
}

func TestCountsLeaveEquivalentsOut(t *testing.T) {
	r := &pkgResult{pkg: "epmd"}
	add := func(status string, n int, why string) {
		for range n {
			r.mutants = append(r.mutants, &mutant{Status: status, Why: why})
		}
	}
	add(statusKilled, 90, "")
	add(statusLived, 10, "")
	add(statusLived, 5, "cannot change behaviour")
	add(statusNotCovered, 25, "")
	add(statusNotCovered, 3, "cannot change behaviour")
	add(statusTimedOut, 7, "")
	add(statusNotViable, 2, "")
	s := r.stats()
	want := counts{killed: 90, lived: 10, notCovered: 25, timedOut: 7, notViable: 2, equivalent: 8}
	if s != want {
		t.Fatalf("stats = %+v, want %+v", s, want)
	}
	if got := s.efficacy(); got != 90 {
		t.Errorf("efficacy = %v, want 90", got)
	}
	if got := s.coverage(); got != 80 { // 100 of 125
		t.Errorf("coverage = %v, want 80", got)
	}
}

func TestClassifyMatchesFileTypeOffsetAndCode(t *testing.T) {
	eq := &equivalent{File: "epmd/a.go", Type: "CONDITIONALS_BOUNDARY", Offset: 5, Code: "if c < 4 {", Why: "never 4"}
	r := &pkgResult{mutants: []*mutant{
		{File: "epmd/a.go", Line: 10, Type: "CONDITIONALS_BOUNDARY", Offset: 5, Code: "if c < 4 {", Status: statusLived},
		{File: "epmd/a.go", Line: 11, Type: "CONDITIONALS_NEGATION", Offset: 5, Code: "if c < 4 {", Status: statusLived},
		{File: "epmd/a.go", Line: 12, Type: "CONDITIONALS_BOUNDARY", Offset: 5, Code: "if c < 5 {", Status: statusLived},
		{File: "epmd/b.go", Line: 10, Type: "CONDITIONALS_BOUNDARY", Offset: 5, Code: "if c < 4 {", Status: statusLived},
	}}
	r.classify([]*equivalent{eq})
	for i, m := range r.mutants {
		if want := i == 0; (m.Why != "") != want {
			t.Errorf("mutant %d (%s line %d) marked equivalent = %v, want %v", i, m.File, m.Line, m.Why != "", want)
		}
	}
	if eq.used != 1 {
		t.Errorf("entry used %d times, want 1", eq.used)
	}
}

func TestApplyEdit(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    string
		wantErr error
	}{
		{name: "once", src: "a\nfor x {\nb\n", want: "a\nfor y {\nb\n"},
		{name: "missing", src: "a\nb\n", wantErr: ErrEditNotApplicable},
		{name: "twice", src: "for x {\nfor x {\n", wantErr: ErrEditNotApplicable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyEdit(tt.src, edit{File: "f.go", Old: "for x {\n", New: "for y {\n"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestScenarioMutantsApply keeps the mutants in step with the code they
// break: each edit matches its file in this tree exactly once.
func TestScenarioMutantsApply(t *testing.T) {
	if len(scenarioMutants) < 5 {
		t.Errorf("%d scenario mutants, want at least 5", len(scenarioMutants))
	}
	seen := map[string]bool{}
	for _, m := range scenarioMutants {
		if seen[m.Name] || m.Name == controlName {
			t.Errorf("mutant name %q used twice or reserved", m.Name)
		}
		seen[m.Name] = true
		for _, e := range m.Edits {
			src, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(e.File)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := applyEdit(string(src), e); err != nil {
				t.Errorf("mutant %s: %s: %v", m.Name, e.File, err)
			}
		}
	}
}

func TestGinkgoSpecFailed(t *testing.T) {
	tests := []struct {
		name string // the Ginkgo state
		want bool
	}{
		{"passed", false}, {"skipped", false}, {"pending", false},
		{"failed", true}, {"timedout", true}, {"aborted", true}, {"panicked", true}, {"interrupted", true},
	}
	for _, tt := range tests {
		s := ginkgoSpec{State: tt.name}
		if got := s.failed(); got != tt.want {
			t.Errorf("state %s: failed() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMutateSource(t *testing.T) {
	src := "package p\n\nfunc f(a, b int) bool {\n\tif a < b || -a == b {\n\t\ta++\n\t}\n\treturn a*b > 0\n}\n"
	tests := []struct {
		name         string
		line, column int
		typ          string
		want         string // the changed line
		wantErr      error
	}{
		{name: "boundary", line: 4, column: 7, typ: "CONDITIONALS_BOUNDARY", want: "\tif a <= b || -a == b {"},
		{name: "negation", line: 4, column: 7, typ: "CONDITIONALS_NEGATION", want: "\tif a >= b || -a == b {"},
		{name: "logical", line: 4, column: 11, typ: "INVERT_LOGICAL", want: "\tif a < b && -a == b {"},
		{name: "negative", line: 4, column: 14, typ: "INVERT_NEGATIVES", want: "\tif a < b || +a == b {"},
		{name: "equality", line: 4, column: 17, typ: "CONDITIONALS_NEGATION", want: "\tif a < b || -a != b {"},
		{name: "increment", line: 5, column: 4, typ: "INCREMENT_DECREMENT", want: "\t\ta--"},
		{name: "arithmetic", line: 7, column: 10, typ: "ARITHMETIC_BASE", want: "\treturn a/b > 0"},
		{name: "no token there", line: 4, column: 8, typ: "CONDITIONALS_BOUNDARY", wantErr: ErrNoToken},
		{name: "token the mutator does not change", line: 4, column: 7, typ: "ARITHMETIC_BASE", wantErr: ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mutateSource([]byte(src), tt.line, tt.column, tt.typ)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := strings.Split(string(out), "\n")[tt.line-1]; got != tt.want {
				t.Errorf("line %d = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestBlindSpot(t *testing.T) {
	src := "package p\n\nconst c = 1 + 2\n\nfunc f(a int) int {\n\tswitch {\n\tcase a < 1:\n\t\treturn a + 1\n\t}\n\treturn a - 1\n}\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	// f's body ran up to the switch (lines 5-6), the clause did not.
	ranBlocks := []profileBlock{{StartLine: 5, StartCol: 19, EndLine: 6, EndCol: 9, Count: 1}, {StartLine: 7, StartCol: 13, EndLine: 8, EndCol: 15, Count: 0}}
	tests := []struct {
		name           string
		blocks         []profileBlock
		line, column   int
		blind, reached bool
	}{
		{name: "constant", line: 3, column: 13, blind: true, reached: true},
		{name: "case expression, switch ran", blocks: ranBlocks, line: 7, column: 9, blind: true, reached: true},
		{name: "case expression, switch did not run", line: 7, column: 9, blind: true},
		{name: "statement in a clause", blocks: ranBlocks, line: 8, column: 12},
		{name: "statement after the switch", blocks: ranBlocks, line: 10, column: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blind, reached := blindSpot(fset, f, tt.blocks, tt.line, tt.column)
			if blind != tt.blind || reached != tt.reached {
				t.Errorf("blindSpot at %d:%d = %v, %v; want %v, %v", tt.line, tt.column, blind, reached, tt.blind, tt.reached)
			}
		})
	}
}

func TestReadProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.out")
	text := "mode: set\ngithub.com/chaos-epmd/chaos-epmd/epmd/codec.go:10.2,12.16 3 1\ngithub.com/chaos-epmd/chaos-epmd/epmd/codec.go:14.3,14.20 1 0\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readProfile(path, "epmd")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]profileBlock{"epmd/codec.go": {{10, 2, 12, 16, 1}, {14, 3, 14, 20, 0}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readProfile = %v, want %v", got, want)
	}
}

func TestFastGOFLAGS(t *testing.T) {
	t.Setenv("GOFLAGS", "-buildvcs=false")
	tests := []struct {
		name, pkg, extra, want string
	}{
		{name: "slow tests", pkg: "epmd", want: "-buildvcs=false -count=1 -short -skip=(^(TestHostileSlowloris|TestFileTable)$)"},
		{name: "slow and extra", pkg: "epmd", extra: "^TestX$", want: "-buildvcs=false -count=1 -short -skip=(^(TestHostileSlowloris|TestFileTable)$)|(^TestX$)"},
		{name: "none", pkg: "faults", want: "-buildvcs=false -count=1 -short"},
		{name: "extra only", pkg: "faults", extra: "^TestHoldPorts$", want: "-buildvcs=false -count=1 -short -skip=(^TestHoldPorts$)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fastGOFLAGS(tt.pkg, tt.extra); got != tt.want {
				t.Errorf("fastGOFLAGS(%s, %q) = %q, want %q", tt.pkg, tt.extra, got, tt.want)
			}
		})
	}
	f := skipFlag{}
	for _, v := range []string{"faults=^A$", "faults=^B$"} {
		if err := f.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if f["faults"] != "^A$|^B$" {
		t.Errorf("-skip twice = %q, want ^A$|^B$", f["faults"])
	}
	if err := f.Set("faults"); err == nil {
		t.Error("-skip faults accepted without a regexp")
	}
}

func TestSuiteArgs(t *testing.T) {
	tests := []struct {
		name string
		c    scenariosConfig
		want []string
	}{
		{name: "serial: go test, Ginkgo flags after -args",
			c:    scenariosConfig{procs: 1, timeout: 30 * time.Minute, labelFilter: "fault:drop", focus: "join"},
			want: []string{"test", "-count=1", "-timeout", "30m0s", "./scenarios/", "-args", "-ginkgo.json-report=/r.json", "-ginkgo.label-filter=fault:drop", "-ginkgo.focus=join"}},
		{name: "parallel: the Ginkgo CLI as make scenarios runs it",
			c:    scenariosConfig{procs: 3, timeout: 40 * time.Minute, labelFilter: "!slow"},
			want: []string{"tool", "ginkgo", "-p", "--procs=3", "--timeout=40m0s", "--json-report=/r.json", "--label-filter=!slow", "./scenarios/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suiteArgs(&tt.c, "/r.json"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("suiteArgs = %q\nwant %q", got, tt.want)
			}
		})
	}
	if _, err := parseScenariosFlags([]string{"-procs", "0"}, "/root"); err == nil || err.Error() != "-procs must be at least 1, got 0" {
		t.Errorf("-procs 0: %v, want the error naming it", err)
	}
}
