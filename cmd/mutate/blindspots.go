package main

// Gremlins calls a mutant covered when its token lies inside a block of
// the coverage profile that ran. Two kinds of token lie inside no block at
// all, whatever the tests do: the expressions of a switch's case clauses
// (a block starts after each clause's colon) and the values of
// package-level constant and variable declarations. Gremlins reports them
// NOT COVERED and never tests them. mutate units tests them itself, with
// the same token mutation and the same test run, when the switch they
// belong to ran (for declarations: always), and counts the outcome as
// gremlins would have.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mutations is gremlins' token mutation per mutator type (its mappings.go).
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
}

// ErrNoToken is wrapped when a mutant's position holds no token its
// mutator changes.
var ErrNoToken = errors.New("no mutable token at the position")

// mutateSource returns src with the token at line:column changed as the
// mutator typ changes it.
func mutateSource(src []byte, line, column int, typ string) ([]byte, error) {
	fset := token.NewFileSet()
	f := fset.AddFile("src.go", -1, len(src))
	var s scanner.Scanner
	s.Init(f, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, fmt.Errorf("%d:%d: %w", line, column, ErrNoToken)
		}
		p := fset.Position(pos)
		if p.Line != line || p.Column != column {
			continue
		}
		to, ok := mutations[typ][tok]
		if !ok {
			return nil, fmt.Errorf("%d:%d: %s for %s: %w", line, column, tok, typ, ErrNoToken)
		}
		off := p.Offset
		out := make([]byte, 0, len(src)+2)
		out = append(out, src[:off]...)
		out = append(out, to.String()...)
		return append(out, src[off+len(tok.String()):]...), nil
	}
}

// blindSpot reports whether a token at line:column of the parsed file lies
// where gremlins has no coverage block, and if so whether it was reached:
// a case expression of a switch that ran, or a package-level declaration.
func blindSpot(fset *token.FileSet, f *ast.File, blocks []profileBlock, line, column int) (blind, reached bool) {
	at := func(n ast.Node) bool {
		s, e := fset.Position(n.Pos()), fset.Position(n.End())
		return before(s.Line, s.Column, line, column) && before(line, column, e.Line, e.Column)
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && (g.Tok == token.CONST || g.Tok == token.VAR) && at(g) {
			return true, true
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if blind || n == nil || !at(n) {
			return !blind && n != nil
		}
		var body *ast.BlockStmt
		switch sw := n.(type) {
		case *ast.SwitchStmt:
			body = sw.Body
		case *ast.TypeSwitchStmt:
			body = sw.Body
		default:
			return true
		}
		for _, st := range body.List {
			cc, ok := st.(*ast.CaseClause)
			if !ok {
				continue
			}
			for _, e := range cc.List {
				if at(e) {
					blind = true
					reached = ran(blocks, fset.Position(n.Pos()))
					return false
				}
			}
		}
		return true
	})
	return blind, reached
}

func before(l1, c1, l2, c2 int) bool { return l1 < l2 || l1 == l2 && c1 <= c2 }

// ran reports whether a block containing p has a count.
func ran(blocks []profileBlock, p token.Position) bool {
	for _, b := range blocks {
		if b.Count > 0 && before(b.StartLine, b.StartCol, p.Line, p.Column) && before(p.Line, p.Column, b.EndLine, b.EndCol) {
			return true
		}
	}
	return false
}

// retestBlindSpots tests the package's NOT COVERED mutants that sit in a
// blind spot of gremlins' coverage and were reached, and records their
// outcome. It returns how many it tested.
func retestBlindSpots(ctx context.Context, c *unitsConfig, snap, pkg, goflags string, r *pkgResult, stdout io.Writer) (int, error) {
	profile := filepath.Join(c.out, pkg+".cover")
	// The tests passed a moment ago under gremlins; a failure now is a
	// test flaky on this machine: the profile is written all the same.
	var timeout time.Duration
	for try := 1; ; try++ {
		_ = os.Remove(profile)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "test", "-coverprofile="+profile, "./"+pkg)
		cmd.Dir = snap
		cmd.Env = append(os.Environ(), "GOFLAGS="+goflags)
		out, err := cmd.CombinedOutput()
		timeout = time.Since(start) * time.Duration(c.coefficient)
		if err == nil {
			break
		}
		if try == 3 {
			if _, serr := os.Stat(profile); serr != nil {
				return 0, fmt.Errorf("coverage of %s: %w\n%s", pkg, err, out)
			}
			fmt.Fprintf(stdout, "%s: the coverage run failed 3 times (a flaky test?); using its profile:\n%s\n", pkg, lastLines(out, 12))
			break
		}
	}
	blocks, err := readProfile(profile, pkg)
	if err != nil {
		return 0, err
	}

	var todo []*mutant
	parsed := map[string]*ast.File{}
	fset := token.NewFileSet()
	for _, m := range r.mutants {
		if m.Status != statusNotCovered || m.Why != "" {
			continue
		}
		f, ok := parsed[m.File]
		if !ok {
			f, err = parser.ParseFile(fset, m.File, mustRead(filepath.Join(snap, m.File)), parser.SkipObjectResolution)
			if err != nil {
				return 0, err
			}
			parsed[m.File] = f
		}
		if blind, reached := blindSpot(fset, f, blocks[m.File], m.Line, m.Column); blind && reached {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	fmt.Fprintf(stdout, "%s: testing %d mutants gremlins has no coverage block for (case expressions, declarations)\n", pkg, len(todo))

	jobs := make(chan *mutant)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := range c.workers {
		dir := filepath.Join(filepath.Dir(snap), fmt.Sprintf("%s-blind-%d", filepath.Base(snap), w))
		if err := copyTree(snap, dir); err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		wg.Go(func() {
			for m := range jobs {
				status, err := testMutant(ctx, dir, pkg, goflags, timeout, m)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				m.Status, m.Retested = status, true
				mu.Unlock()
			}
		})
	}
	for _, m := range todo {
		jobs <- m
	}
	close(jobs)
	wg.Wait()
	return len(todo), firstErr
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// testMutant applies m in the tree at dir, runs the package's tests as
// gremlins does, and restores the file.
func testMutant(ctx context.Context, dir, pkg, goflags string, timeout time.Duration, m *mutant) (string, error) {
	path := filepath.Join(dir, m.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		return statusNotCovered, err
	}
	mutated, err := mutateSource(orig, m.Line, m.Column, m.Type)
	if err != nil {
		return statusNotCovered, fmt.Errorf("%s:%d:%d: %w", m.File, m.Line, m.Column, err)
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return statusNotCovered, err
	}
	defer os.WriteFile(path, orig, 0o644)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "go", "test", "-failfast", "-timeout", (timeout + 2*time.Second).String(), "./"+pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS="+goflags)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case tctx.Err() != nil && ctx.Err() == nil:
		return statusTimedOut, nil
	case err == nil:
		return statusLived, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1 && !bytes.Contains(out.Bytes(), []byte("[build failed]")):
		return statusKilled, nil
	case errors.As(err, &exit):
		return statusNotViable, nil
	}
	return statusNotCovered, err
}

// profileBlock is one block of a coverage profile.
type profileBlock struct {
	StartLine, StartCol, EndLine, EndCol, Count int
}

// readProfile reads a go test -coverprofile file into blocks by
// module-relative file name (pkg/file.go).
func readProfile(path, pkg string) (map[string][]profileBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blocks := map[string][]profileBlock{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 || line == "" { // mode: set
			continue
		}
		// import/path/pkg/file.go:L.C,L.C statements count
		file, rest, ok := strings.Cut(line, ":")
		f := strings.FieldsFunc(rest, func(r rune) bool { return r == '.' || r == ',' || r == ' ' })
		if !ok || len(f) != 6 {
			return nil, fmt.Errorf("%s: line %d: %q is not a profile block", path, i+1, line)
		}
		var n [6]int
		for j, s := range f {
			if n[j], err = strconv.Atoi(s); err != nil {
				return nil, fmt.Errorf("%s: line %d: %q is not a profile block", path, i+1, line)
			}
		}
		key := pkg + "/" + file[strings.LastIndex(file, "/"+pkg+"/")+len(pkg)+2:]
		blocks[key] = append(blocks[key], profileBlock{n[0], n[1], n[2], n[3], n[5]})
	}
	return blocks, nil
}

// lastLines returns the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
