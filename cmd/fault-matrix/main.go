// Command fault-matrix folds a scenario run's fault-outcome matrix into the
// committed one and regenerates the documentation's outcome tables from it
// (make fault-matrix):
//
//	go run ./cmd/fault-matrix [-run build/fault-matrix.json,build/scenarios-junit.xml] [-matrix scenarios/testdata/fault-matrix.json] [-check]
//
// Each run file is the suite's own matrix (.json) or a Ginkgo JUnit report
// (.xml, its fault-outcome properties), folded in in the order given;
// missing ones are skipped. A run of the whole suite (no label filter or
// focus) replaces the committed rows; a filtered run replaces the rows it
// recorded again and adds new ones. Without run files the documentation is
// regenerated from the committed matrix alone. With -specs (a Ginkgo JSON
// report of a dry run: the stories that exist) the rows of stories renamed
// or removed since they were recorded are dropped. With -md the whole
// committed matrix is also written as Markdown tables (one per request
// type), as the suite writes a run's build/fault-matrix.md. The README's table of fault kinds and
// each kind's observations in faults/README.md lie between
// <!-- fault-matrix:NAME --> markers; nothing else is touched. With -check
// nothing is written, and the exit status is 1 when a file would change.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

func main() {
	run := flag.String("run", "build/fault-matrix.json", "comma-separated runs' matrices (.json, written by the scenario suite) or JUnit reports (.xml)")
	committed := flag.String("matrix", "scenarios/testdata/fault-matrix.json", "the committed matrix")
	readme := flag.String("readme", "README.md", "the README holding the table of kinds")
	faultsReadme := flag.String("faults-readme", "faults/README.md", "the faults' README holding each kind's observations")
	specs := flag.String("specs", "", "a Ginkgo JSON report of a dry run of the scenarios: drop the rows of stories not in it")
	md := flag.String("md", "", "also write the committed matrix as Markdown to this file")
	check := flag.Bool("check", false, "write nothing; exit 1 when a file is not up to date")
	flag.Parse()
	if err := generate(*run, *committed, *specs, *readme, *faultsReadme, *check); err != nil {
		fmt.Fprintln(os.Stderr, "fault-matrix:", err)
		os.Exit(1)
	}
	if *md == "" || *check {
		return
	}
	m, err := readMatrix(*committed)
	if err == nil {
		err = os.WriteFile(*md, []byte(matrix.Markdown("Fault-outcome matrix ("+*committed+")", m.Rows)), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault-matrix:", err)
		os.Exit(1)
	}
}

func generate(runPath, committedPath, specsPath, readmePath, faultsReadmePath string, check bool) error {
	committed, err := readMatrix(committedPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	m := committed
	for _, p := range strings.Split(runPath, ",") {
		if p == "" {
			continue
		}
		run, err := readMatrix(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		fmt.Printf("fault-matrix: %s: %d rows (filter %q)\n", p, len(run.Rows), run.Filter)
		m = matrix.Merge(m, run)
	}
	if specsPath != "" {
		f, err := os.Open(specsPath)
		if err != nil {
			return err
		}
		stories, err := matrix.ReadSpecs(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", specsPath, err)
		}
		var dropped []matrix.Row
		m, dropped = matrix.Prune(m, stories)
		for _, r := range dropped {
			fmt.Printf("fault-matrix: dropped a row of a story that is gone: %q\n", r.Story)
		}
	}
	var mb bytes.Buffer
	if err := matrix.Write(&mb, m); err != nil {
		return err
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	faultsReadme, err := os.ReadFile(faultsReadmePath)
	if err != nil {
		return err
	}
	r, f, err := matrix.Docs(matrix.Kinds(), m.Rows, string(readme), string(faultsReadme))
	if err != nil {
		return err
	}
	stale := false
	for _, out := range []struct {
		path string
		b    []byte
	}{{committedPath, mb.Bytes()}, {readmePath, []byte(r)}, {faultsReadmePath, []byte(f)}} {
		old, err := os.ReadFile(out.path)
		if err == nil && bytes.Equal(old, out.b) {
			continue
		}
		if check {
			fmt.Fprintf(os.Stderr, "fault-matrix: %s is not up to date (make fault-matrix)\n", out.path)
			stale = true
			continue
		}
		if err := os.WriteFile(out.path, out.b, 0o644); err != nil {
			return err
		}
		fmt.Printf("fault-matrix: wrote %s\n", out.path)
	}
	if stale {
		return errors.New("not up to date")
	}
	fmt.Printf("fault-matrix: %d rows\n", len(m.Rows))
	return nil
}

func readMatrix(path string) (matrix.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return matrix.File{}, err
	}
	defer f.Close()
	read := matrix.Read
	if strings.HasSuffix(path, ".xml") {
		read = matrix.ReadJUnit
	}
	m, err := read(f)
	if err != nil {
		return matrix.File{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
