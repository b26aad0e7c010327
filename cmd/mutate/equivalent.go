package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// equivalent is one entry of equivalent.txt: a mutant that cannot change
// what the program does, and why.
//
// An entry is a header line "FILE MUTATOR @OFFSET" (OFFSET: the byte offset
// of the mutated token in the trimmed source line, as mutate units prints
// it), then indented lines "code: SOURCE LINE" (trimmed) and "why: REASON";
// further indented lines continue the reason. Lines starting with # are
// comments.
type equivalent struct {
	File, Type string
	Offset     int
	Code, Why  string
	line       int // in equivalent.txt
	used       int
}

func (e *equivalent) matches(m *mutant) bool {
	return e.File == m.File && e.Type == m.Type && e.Offset == m.Offset && e.Code == m.Code
}

// ErrEquivalentSyntax is wrapped by readEquivalents for a malformed entry.
var ErrEquivalentSyntax = errors.New("malformed equivalent.txt entry")

func readEquivalents(path string) ([]*equivalent, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := parseEquivalents(bufio.NewScanner(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

func parseEquivalents(sc *bufio.Scanner) ([]*equivalent, error) {
	var list []*equivalent
	var cur *equivalent
	done := func() error {
		if cur != nil && (cur.Code == "" || cur.Why == "") {
			return fmt.Errorf("line %d: %w: want both code: and why:", cur.line, ErrEquivalentSyntax)
		}
		return nil
	}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		text := strings.TrimSpace(line)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			if err := done(); err != nil {
				return nil, err
			}
			f := strings.Fields(text)
			if len(f) != 3 || !strings.HasPrefix(f[2], "@") {
				return nil, fmt.Errorf("line %d: %w: want FILE MUTATOR @OFFSET, got %q", n, ErrEquivalentSyntax, text)
			}
			off, err := strconv.Atoi(f[2][1:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w: offset %q is not a number", n, ErrEquivalentSyntax, f[2])
			}
			cur = &equivalent{File: f[0], Type: f[1], Offset: off, line: n}
			list = append(list, cur)
			continue
		}
		switch {
		case cur == nil:
			return nil, fmt.Errorf("line %d: %w: indented line before any FILE MUTATOR @OFFSET", n, ErrEquivalentSyntax)
		case strings.HasPrefix(text, "code:"):
			cur.Code = strings.TrimSpace(strings.TrimPrefix(text, "code:"))
		case strings.HasPrefix(text, "why:"):
			cur.Why = strings.TrimSpace(strings.TrimPrefix(text, "why:"))
		case cur.Why != "":
			cur.Why += " " + text
		default:
			return nil, fmt.Errorf("line %d: %w: want code: or why:, got %q", n, ErrEquivalentSyntax, text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := done(); err != nil {
		return nil, err
	}
	return list, nil
}
