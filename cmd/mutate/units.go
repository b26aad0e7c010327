package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// slowTests names, per package, the tests kept out of the per-mutant run
// on top of what -short leaves out: they take seconds and cover no line,
// as gremlins measures coverage, that the fast tests do not.
var slowTests = map[string]string{
	// TestHostileSlowloris: 5.6 s even in -short mode, waiting out packet
	// timeouts. TestFileTable: 2.8 s, a child process registering hundreds
	// of nodes; what it runs is in the child, outside gremlins' coverage
	// anyway.
	"epmd": "^(TestHostileSlowloris|TestFileTable)$",
}

// testSupport names, per package, the files of its subpackages that only
// tests import (epmd/epmdtest: ports for tests): gremlins mutates a
// package's subdirectories too, and these are not what is measured.
var testSupport = map[string]string{
	"epmd": `^epmdtest/`, // gremlins matches paths relative to the package
}

// Gremlins statuses as they appear in its JSON report.
const (
	statusKilled     = "KILLED"
	statusLived      = "LIVED"
	statusNotCovered = "NOT COVERED"
	statusTimedOut   = "TIMED OUT"
	statusNotViable  = "NOT VIABLE"
)

type unitsConfig struct {
	gremlins    string
	workers     int
	coefficient int
	equivalent  string
	out         string
	minEfficacy float64
	minCoverage float64
	keep        bool
	blind       bool
	skip        skipFlag
	pkgs        []string
}

// skipFlag is -skip PKG=REGEXP, repeatable: more tests kept out of a
// package's per-mutant run (a test failing or flaky on this machine).
type skipFlag map[string]string

func (f skipFlag) String() string { return fmt.Sprint(map[string]string(f)) }

func (f skipFlag) Set(v string) error {
	pkg, re, ok := strings.Cut(v, "=")
	if !ok || pkg == "" || re == "" || strings.ContainsAny(re, " \t") {
		return fmt.Errorf("want PKG=REGEXP without spaces, got %q", v)
	}
	if old := f[pkg]; old != "" {
		re = old + "|" + re
	}
	f[pkg] = re
	return nil
}

func parseUnitsFlags(args []string, root string) (*unitsConfig, error) {
	c := &unitsConfig{skip: skipFlag{}}
	fs := flag.NewFlagSet("mutate units", flag.ContinueOnError)
	fs.Var(c.skip, "skip", "PKG=REGEXP: also keep these tests of PKG out of the per-mutant run (repeatable)")
	fs.StringVar(&c.gremlins, "gremlins", "", "the gremlins binary (default: gremlins on PATH, else in $(go env GOPATH)/bin)")
	fs.IntVar(&c.workers, "workers", 2, "mutants tested at once")
	fs.IntVar(&c.coefficient, "timeout-coefficient", 10, "a mutant's test run times out after this many times the coverage run's duration")
	fs.StringVar(&c.equivalent, "equivalent", filepath.Join(root, "cmd", "mutate", "equivalent.txt"), "the list of equivalent mutants")
	fs.StringVar(&c.out, "out", filepath.Join(root, "build", "mutation"), "directory for logs and JSON reports")
	fs.Float64Var(&c.minEfficacy, "min-efficacy", 0, "fail when a package's test efficacy (percent) is below this")
	fs.Float64Var(&c.minCoverage, "min-coverage", 0, "fail when a package's mutator coverage (percent) is below this")
	fs.BoolVar(&c.keep, "keep", false, "keep the snapshot of the work tree")
	fs.BoolVar(&c.blind, "blind-spots", true, "test the reached mutants gremlins has no coverage block for (case expressions, declarations)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.pkgs = fs.Args()
	if len(c.pkgs) == 0 {
		c.pkgs = []string{"epmd", "faults"}
	}
	if c.workers < 1 || c.coefficient < 1 {
		return nil, fmt.Errorf("-workers and -timeout-coefficient must be at least 1, got %d and %d", c.workers, c.coefficient)
	}
	return c, nil
}

func findGremlins(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p, err := exec.LookPath("gremlins"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(strings.Split(string(out), string(os.PathListSeparator))[0]), "bin", "gremlins")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("gremlins not found: go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0, or pass -gremlins")
}

func runUnits(ctx context.Context, args []string, stdout io.Writer) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	c, err := parseUnitsFlags(args, root)
	if err != nil {
		return err
	}
	bin, err := findGremlins(c.gremlins)
	if err != nil {
		return err
	}
	equivalents, err := readEquivalents(c.equivalent)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	snap, err := os.MkdirTemp("", "mutate-units-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintln(stdout, "snapshot kept in", snap)
	} else {
		defer os.RemoveAll(snap)
	}
	n, err := snapshot(ctx, root, snap)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snapshot of the work tree: %d files; %d workers, timeout coefficient %d\n", n, c.workers, c.coefficient)

	var results []*pkgResult
	for _, pkg := range c.pkgs {
		r, err := mutatePackage(ctx, c, bin, snap, pkg, stdout)
		if err != nil {
			return err
		}
		r.classify(equivalents)
		r.print(stdout)
		results = append(results, r)
	}
	printStale(stdout, equivalents, c.pkgs)
	printSummary(stdout, results)

	var failed []string
	for _, r := range results {
		s := r.stats()
		if s.efficacy() < c.minEfficacy || s.coverage() < c.minCoverage {
			failed = append(failed, r.pkg)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("below -min-efficacy %.1f %% or -min-coverage %.1f %%: %s", c.minEfficacy, c.minCoverage, strings.Join(failed, ", "))
	}
	return nil
}

// mutatePackage runs gremlins over one package of the snapshot.
func mutatePackage(ctx context.Context, c *unitsConfig, bin, snap, pkg string, stdout io.Writer) (*pkgResult, error) {
	logPath := filepath.Join(c.out, pkg+".log")
	jsonPath := filepath.Join(c.out, pkg+".json")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	goflags := fastGOFLAGS(pkg, c.skip[pkg])
	args := []string{"unleash",
		"--workers", fmt.Sprint(c.workers),
		"--timeout-coefficient", fmt.Sprint(c.coefficient),
		"--output", jsonPath}
	if re := testSupport[pkg]; re != "" {
		args = append(args, "--exclude-files", re)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, "./"+pkg)...)
	cmd.Dir = snap
	cmd.Env = append(os.Environ(), "GOFLAGS="+goflags)
	cmd.Stdout = logf
	cmd.Stderr = logf
	fmt.Fprintf(stdout, "%s: gremlins unleash, GOFLAGS=%q, log %s\n", pkg, goflags, logPath)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gremlins on %s: %w (see %s)", pkg, err, logPath)
	}
	r, err := readReport(jsonPath, snap, pkg)
	if err != nil {
		return nil, err
	}
	if c.blind {
		if _, err := retestBlindSpots(ctx, c, snap, pkg, goflags, r, stdout); err != nil {
			return nil, err
		}
	}
	r.elapsed = time.Since(start)
	return r, nil
}

// fastGOFLAGS is GOFLAGS for a package's per-mutant test run: no cached
// results, -short, the package's slowTests and extra skipped.
func fastGOFLAGS(pkg, extra string) string {
	goflags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -count=1 -short")
	var skip []string
	for _, re := range []string{slowTests[pkg], extra} {
		if re != "" {
			skip = append(skip, "("+re+")")
		}
	}
	if len(skip) > 0 {
		goflags += " -skip=" + strings.Join(skip, "|")
	}
	return goflags
}

// gremlinsReport is the part of gremlins' JSON output read here.
type gremlinsReport struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
	TestEfficacy      float64 `json:"test_efficacy"`
	MutationsCoverage float64 `json:"mutations_coverage"`
}

// mutant is one mutation gremlins made, located by its source line so that
// an equivalent.txt entry survives edits elsewhere in the file.
type mutant struct {
	File   string // module-relative, slash-separated
	Line   int
	Column int
	Type   string
	Status string
	Code   string // the source line, trimmed
	Offset int    // byte offset of the mutated token in Code
	Why    string // set when the mutant is listed as equivalent
	// Retested is set when mutate tested the mutant itself: gremlins
	// reported it NOT COVERED for want of a coverage block (blindspots.go).
	Retested bool
}

// key is the mutant as equivalent.txt names it.
func (m *mutant) key() string { return fmt.Sprintf("%s %s @%d", m.File, m.Type, m.Offset) }

type pkgResult struct {
	pkg              string
	mutants          []*mutant
	gremlinsEfficacy float64
	gremlinsCoverage float64
	elapsed          time.Duration
}

func readReport(jsonPath, snap, pkg string) (*pkgResult, error) {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, fmt.Errorf("gremlins report of %s: %w", pkg, err)
	}
	var rep gremlinsReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("gremlins report %s: %w", jsonPath, err)
	}
	r := &pkgResult{pkg: pkg, gremlinsEfficacy: rep.TestEfficacy, gremlinsCoverage: rep.MutationsCoverage}
	for _, f := range rep.Files {
		file := path.Join(pkg, filepath.ToSlash(f.Name))
		src, err := os.ReadFile(filepath.Join(snap, file))
		if err != nil {
			return nil, fmt.Errorf("source of a mutant: %w", err)
		}
		lines := strings.Split(string(src), "\n")
		for _, mu := range f.Mutations {
			m := &mutant{File: file, Line: mu.Line, Column: mu.Column, Type: mu.Type, Status: mu.Status}
			if mu.Line >= 1 && mu.Line <= len(lines) {
				m.Code, m.Offset = locate(lines[mu.Line-1], mu.Column)
			}
			r.mutants = append(r.mutants, m)
		}
	}
	slices.SortFunc(r.mutants, func(a, b *mutant) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if a.Column != b.Column {
			return a.Column - b.Column
		}
		return strings.Compare(a.Type, b.Type)
	})
	return r, nil
}

// locate returns a source line without its indentation and the offset in it
// of the byte at the 1-based column.
func locate(line string, column int) (string, int) {
	trimmed := strings.TrimLeft(line, " \t")
	return strings.TrimSpace(trimmed), column - 1 - (len(line) - len(trimmed))
}

// counts are the figures of one package, equivalent mutants left out.
type counts struct {
	killed, lived, notCovered, timedOut, notViable, equivalent int
}

// efficacy is gremlins' test efficacy: killed / (killed + lived), percent.
func (c counts) efficacy() float64 {
	if c.killed+c.lived == 0 {
		return 0
	}
	return 100 * float64(c.killed) / float64(c.killed+c.lived)
}

// coverage is gremlins' mutator coverage: (killed + lived) / (killed +
// lived + not covered), percent; timed-out and not-viable mutants count on
// neither side.
func (c counts) coverage() float64 {
	if c.killed+c.lived+c.notCovered == 0 {
		return 0
	}
	return 100 * float64(c.killed+c.lived) / float64(c.killed+c.lived+c.notCovered)
}

func (r *pkgResult) stats() counts {
	var c counts
	for _, m := range r.mutants {
		switch {
		case m.Why != "":
			c.equivalent++
		case m.Status == statusKilled:
			c.killed++
		case m.Status == statusLived:
			c.lived++
		case m.Status == statusNotCovered:
			c.notCovered++
		case m.Status == statusTimedOut:
			c.timedOut++
		case m.Status == statusNotViable:
			c.notViable++
		}
	}
	return c
}

// classify marks the mutants listed in equivalents.
func (r *pkgResult) classify(equivalents []*equivalent) {
	for _, m := range r.mutants {
		for _, e := range equivalents {
			if e.matches(m) {
				m.Why = e.Why
				e.used++
				break
			}
		}
	}
}

func (r *pkgResult) print(w io.Writer) {
	s := r.stats()
	fmt.Fprintf(w, "\n== %s: %d mutants in %s\n", r.pkg, len(r.mutants), r.elapsed.Round(time.Second))
	retested, retestKilled := 0, 0
	for _, m := range r.mutants {
		if m.Retested {
			retested++
			if m.Status == statusKilled {
				retestKilled++
			}
		}
	}
	fmt.Fprintf(w, "   killed %d, lived %d, not covered %d, timed out %d, not viable %d; equivalent %d (not counted)\n",
		s.killed, s.lived, s.notCovered, s.timedOut, s.notViable, s.equivalent)
	if retested > 0 {
		fmt.Fprintf(w, "   of these, tested by mutate where gremlins has no coverage block: %d, killed %d\n", retested, retestKilled)
	}
	fmt.Fprintf(w, "   test efficacy    %6.2f %%  (gremlins alone: %.2f %%)\n", s.efficacy(), r.gremlinsEfficacy)
	fmt.Fprintf(w, "   mutator coverage %6.2f %%  (gremlins alone: %.2f %%)\n", s.coverage(), r.gremlinsCoverage)
	for _, status := range []string{statusLived, statusNotCovered, statusTimedOut} {
		var list []*mutant
		for _, m := range r.mutants {
			if m.Status == status && m.Why == "" {
				list = append(list, m)
			}
		}
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(w, "   %s (%d):\n", strings.ToLower(status), len(list))
		for _, m := range list {
			note := ""
			if m.Retested {
				note = "  [tested by mutate: no coverage block]"
			}
			fmt.Fprintf(w, "     %s:%d:%d %s @%d\t%s%s\n", m.File, m.Line, m.Column, m.Type, m.Offset, m.Code, note)
		}
	}
	var eq []*mutant
	for _, m := range r.mutants {
		if m.Why != "" {
			eq = append(eq, m)
		}
	}
	if len(eq) > 0 {
		fmt.Fprintf(w, "   equivalent (%d, not counted):\n", len(eq))
		for _, m := range eq {
			fmt.Fprintf(w, "     %s:%d:%d %s (%s)\t%s\n       %s\n", m.File, m.Line, m.Column, m.Type, strings.ToLower(m.Status), m.Code, m.Why)
		}
	}
}

func printStale(w io.Writer, equivalents []*equivalent, pkgs []string) {
	for _, e := range equivalents {
		if e.used == 0 && slices.Contains(pkgs, strings.SplitN(e.File, "/", 2)[0]) {
			fmt.Fprintf(w, "\nstale entry in equivalent.txt (no such mutant now): %s @%d  %s\n", e.File+" "+e.Type, e.Offset, e.Code)
		}
	}
}

func printSummary(w io.Writer, results []*pkgResult) {
	fmt.Fprintf(w, "\n%-8s %7s %6s %8s %6s %6s %9s %9s %8s\n", "package", "killed", "lived", "not cov", "t/out", "equiv", "efficacy", "coverage", "time")
	for _, r := range results {
		s := r.stats()
		fmt.Fprintf(w, "%-8s %7d %6d %8d %6d %6d %8.2f%% %8.2f%% %8s\n", r.pkg, s.killed, s.lived, s.notCovered, s.timedOut, s.equivalent,
			s.efficacy(), s.coverage(), r.elapsed.Round(time.Second))
	}
}
