package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// controlName is the unmutated build, run first so that a spec failing
// without any mutant is told apart from a spec catching one.
const controlName = "control"

// ErrEditNotApplicable is wrapped when a mutant's edit does not match the
// source exactly once.
var ErrEditNotApplicable = errors.New("edit does not apply")

type scenariosConfig struct {
	out         string
	labelFilter string
	focus       string
	timeout     time.Duration
	procs       int
	control     bool
	buildOnly   bool
	list        bool
	keep        bool
	names       []string
}

func parseScenariosFlags(args []string, root string) (*scenariosConfig, error) {
	c := &scenariosConfig{}
	fs := flag.NewFlagSet("mutate scenarios", flag.ContinueOnError)
	fs.StringVar(&c.out, "out", filepath.Join(root, "build", "mutation"), "directory for binaries, logs and Ginkgo JSON reports")
	fs.StringVar(&c.labelFilter, "label-filter", "", "Ginkgo label filter for the suite (default: every spec)")
	fs.StringVar(&c.focus, "focus", "", "Ginkgo focus regexp for the suite (default: every spec)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "go test -timeout of one suite run")
	fs.IntVar(&c.procs, "procs", 3, "Ginkgo processes per suite run (1: go test, serial)")
	fs.BoolVar(&c.control, "control", true, "first run the suite against the unmutated build")
	fs.BoolVar(&c.buildOnly, "build-only", false, "apply the edits and build the binaries, run nothing")
	fs.BoolVar(&c.list, "list", false, "list the mutants and exit")
	fs.BoolVar(&c.keep, "keep", false, "keep the snapshot and the mutated trees")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.procs < 1 {
		return nil, fmt.Errorf("-procs must be at least 1, got %d", c.procs)
	}
	c.names = fs.Args()
	return c, nil
}

func selectMutants(names []string) ([]scenarioMutant, error) {
	if len(names) == 0 {
		return scenarioMutants, nil
	}
	var sel []scenarioMutant
	for _, name := range names {
		i := slices.IndexFunc(scenarioMutants, func(m scenarioMutant) bool { return m.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("no mutant %q (mutate scenarios -list)", name)
		}
		sel = append(sel, scenarioMutants[i])
	}
	return sel, nil
}

func runScenarios(ctx context.Context, args []string, stdout io.Writer) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	c, err := parseScenariosFlags(args, root)
	if err != nil {
		return err
	}
	mutants, err := selectMutants(c.names)
	if err != nil {
		return err
	}
	if c.list {
		for _, m := range scenarioMutants {
			fmt.Fprintf(stdout, "%-20s %s\n", m.Name, m.What)
		}
		return nil
	}
	binDir := filepath.Join(c.out, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mutate-scenarios-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintln(stdout, "trees kept in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	base := filepath.Join(tmp, "base")
	n, err := snapshot(ctx, root, base)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snapshot of the work tree: %d files\n", n)

	// Every binary is built before any suite runs: an edit that no longer
	// applies stops the run in seconds, not after an hour of suites.
	type build struct {
		name, what, bin string
	}
	var builds []build
	if c.control {
		bin := filepath.Join(binDir, "chaos-epmd-"+controlName)
		if err := goBuild(ctx, base, bin); err != nil {
			return fmt.Errorf("control build: %w", err)
		}
		builds = append(builds, build{controlName, "the work tree as it is", bin})
	}
	for _, m := range mutants {
		dir := filepath.Join(tmp, m.Name)
		if err := copyTree(base, dir); err != nil {
			return err
		}
		if err := applyEdits(dir, m); err != nil {
			return err
		}
		bin := filepath.Join(binDir, "chaos-epmd-"+m.Name)
		if err := goBuild(ctx, dir, bin); err != nil {
			return fmt.Errorf("mutant %s: %w", m.Name, err)
		}
		builds = append(builds, build{m.Name, m.What, bin})
		fmt.Fprintf(stdout, "built %s: %s\n", m.Name, m.What)
	}
	if c.buildOnly {
		return nil
	}

	cache := os.Getenv("CHAOS_EPMD_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache", "erlangfixtures") // the images' cache stays the work tree's
	}
	var results []*suiteResult
	var control *suiteResult
	for _, b := range builds {
		fmt.Fprintf(stdout, "\n== %s: %s\n", b.name, b.what)
		r, err := runSuite(ctx, c, base, cache, b.name, b.bin)
		if err != nil {
			return err
		}
		if b.name == controlName {
			control = r
		}
		r.print(stdout, control)
		results = append(results, r)
	}
	fmt.Fprintf(stdout, "\n%-20s %6s %6s %7s %8s\n", "mutant", "specs", "failed", "passed", "time")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-20s %6d %6d %7d %8s\n", r.name, r.specs, len(r.failed), r.passed, r.elapsed.Round(time.Second))
	}
	return nil
}

// applyEdits applies m's edits to the tree at dir, each of which must match
// exactly once.
func applyEdits(dir string, m scenarioMutant) error {
	for _, e := range m.Edits {
		p := filepath.Join(dir, filepath.FromSlash(e.File))
		src, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("mutant %s: %w", m.Name, err)
		}
		out, err := applyEdit(string(src), e)
		if err != nil {
			return fmt.Errorf("mutant %s: %s: %w", m.Name, e.File, err)
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func applyEdit(src string, e edit) (string, error) {
	if n := strings.Count(src, e.Old); n != 1 {
		return "", fmt.Errorf("%w: %q occurs %d times, want once (update scenarioMutants in cmd/mutate/mutants.go)", ErrEditNotApplicable, e.Old, n)
	}
	return strings.Replace(src, e.Old, e.New, 1), nil
}

func goBuild(ctx context.Context, dir, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/chaos-epmd")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

// ginkgoReport is the part of a Ginkgo JSON report read here.
type ginkgoReport struct {
	SpecReports []ginkgoSpec
}

type ginkgoSpec struct {
	ContainerHierarchyTexts []string
	LeafNodeType            string
	LeafNodeText            string
	State                   string
	Failure                 struct {
		Message  string
		Location struct {
			FileName   string
			LineNumber int
		}
	}
}

func (s *ginkgoSpec) text() string {
	return strings.Join(append(slices.Clone(s.ContainerHierarchyTexts), s.LeafNodeText), " ")
}

func (s *ginkgoSpec) failed() bool {
	switch s.State {
	case "failed", "timedout", "aborted", "panicked", "interrupted":
		return true
	}
	return false
}

type suiteResult struct {
	name          string
	specs, passed int // specs run (not skipped or pending)
	skipped       int
	failed        []ginkgoSpec // specs and suite-level nodes
	elapsed       time.Duration
}

// suiteArgs is the go command running the suite once: go test when serial,
// else the Ginkgo CLI (go tool ginkgo) with c.procs processes, as make
// scenarios runs it.
func suiteArgs(c *scenariosConfig, reportPath string) []string {
	if c.procs == 1 {
		args := []string{"test", "-count=1", "-timeout", c.timeout.String(), "./scenarios/", "-args", "-ginkgo.json-report=" + reportPath}
		if c.labelFilter != "" {
			args = append(args, "-ginkgo.label-filter="+c.labelFilter)
		}
		if c.focus != "" {
			args = append(args, "-ginkgo.focus="+c.focus)
		}
		return args
	}
	args := []string{"tool", "ginkgo", "-p", fmt.Sprintf("--procs=%d", c.procs), "--timeout=" + c.timeout.String(), "--json-report=" + reportPath}
	if c.labelFilter != "" {
		args = append(args, "--label-filter="+c.labelFilter)
	}
	if c.focus != "" {
		args = append(args, "--focus="+c.focus)
	}
	return append(args, "./scenarios/")
}

func runSuite(ctx context.Context, c *scenariosConfig, dir, cache, name, bin string) (*suiteResult, error) {
	reportPath := filepath.Join(c.out, "scenarios-"+name+".json")
	logPath := filepath.Join(c.out, "scenarios-"+name+".log")
	_ = os.Remove(reportPath)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "go", suiteArgs(c, reportPath)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHAOS_EPMD_BINARY="+bin, "CHAOS_EPMD_CACHE="+cache, "CI=true")
	cmd.Stdout = logf
	cmd.Stderr = logf
	start := time.Now()
	runErr := cmd.Run() // failing specs are the point; the report says which
	r := &suiteResult{name: name, elapsed: time.Since(start)}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return nil, fmt.Errorf("suite against %s gave no report (go test: %v; see %s): %w", name, runErr, logPath, err)
	}
	var reports []ginkgoReport
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("report %s: %w", reportPath, err)
	}
	for _, rep := range reports {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == "It" {
				switch s.State {
				case "skipped", "pending":
					r.skipped++
					continue
				case "passed":
					r.passed++
				}
				r.specs++
			}
			if s.failed() {
				r.failed = append(r.failed, s)
			}
		}
	}
	return r, nil
}

func (r *suiteResult) print(w io.Writer, control *suiteResult) {
	fmt.Fprintf(w, "   %d of %d specs failed, %d passed, %d not run (%s)\n", len(r.failed), r.specs, r.passed, r.skipped, r.elapsed.Round(time.Second))
	for _, s := range r.failed {
		note := ""
		if control != nil && control != r && slices.ContainsFunc(control.failed, func(c ginkgoSpec) bool { return c.text() == s.text() }) {
			note = "  [failed with the control build too]"
		}
		kind := ""
		if s.LeafNodeType != "It" {
			kind = "[" + s.LeafNodeType + "] "
		}
		fmt.Fprintf(w, "   FAIL %s%s (%s:%d, %s)%s\n", kind, s.text(), filepath.Base(s.Failure.Location.FileName), s.Failure.Location.LineNumber, s.State, note)
	}
}
