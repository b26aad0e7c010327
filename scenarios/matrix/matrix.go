// Package matrix is the fault-outcome matrix: what each subject (an OTP
// release, or an application and its version on one) did under each fault
// spec, as the scenario specs observed it.
//
// The specs record rows (scenarios/matrix_test.go: recordOutcome, one
// Ginkgo report entry named "fault-outcome" per row); after a run the suite
// writes build/fault-matrix.json (a [File]) and build/fault-matrix.md
// ([Markdown]). cmd/fault-matrix merges a run's file into the committed
// scenarios/testdata/fault-matrix.json ([Merge]) and rewrites the
// generated parts of README.md and faults/README.md ([Splice], [Summary],
// [KindSummary]) from it.
package matrix

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The request types rows are grouped by: the request a fault acted on, or
// Daemon for faults on the whole daemon (stall, crash, hold_ports).
const (
	Alive2     = "ALIVE2"
	PortPlease = "PORT_PLEASE2"
	Names      = "NAMES"
	Accept     = "accept"
	Daemon     = "daemon"
)

// Requests lists the request types in the order the matrix shows them.
var Requests = []string{Alive2, PortPlease, Names, Accept, Daemon}

// Row is one observation: a subject, under one epmd and one fault spec,
// asked to do one thing, did this.
type Row struct {
	// Subject is what ran: "OTP 25", or "Elixir 1.14.0 (OTP 25)".
	Subject string `json:"subject"`
	// Epmd is the daemon the subject talked to: "C epmd" or "chaos-epmd".
	Epmd string `json:"epmd"`
	// Request is the request type the fault acted on, one of Requests.
	Request string `json:"request"`
	// Kind is the spec's fault kind; "" without a fault.
	Kind string `json:"kind"`
	// Spec is the exact fault spec given to chaos-epmd; "" without a fault.
	Spec string `json:"spec"`
	// Action is what the subject was asked to do ("erl -sname x").
	Action string `json:"action"`
	// Outcome is what it did: the exact text, term or exit status.
	Outcome string `json:"outcome"`
	// Pinned is what the story accepts when that is a set rather than
	// Outcome exactly (a race), with the reason; empty otherwise.
	Pinned string `json:"pinned,omitempty"`
	// TookMS is how long the action took, in milliseconds.
	TookMS int64 `json:"took_ms"`
	// Story is the full text of the spec that recorded the row.
	Story string `json:"story"`
}

// Took is r.TookMS as a duration.
func (r Row) Took() time.Duration { return time.Duration(r.TookMS) * time.Millisecond }

// Result is what the matrix shows as the row's outcome: Pinned when the
// story accepts a set, else Outcome.
func (r Row) Result() string {
	if r.Pinned != "" {
		return r.Pinned
	}
	return r.Outcome
}

// File is the form of build/fault-matrix.json and of the committed matrix.
type File struct {
	// Filter is the run's label filter and focus; empty for a whole run.
	Filter string `json:"filter"`
	// Rows are the rows, in Sort's order.
	Rows []Row `json:"rows"`
}

// Read decodes a File, rejecting unknown fields and request types.
func Read(r io.Reader) (File, error) {
	var f File
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return File{}, fmt.Errorf("read fault matrix: %w", err)
	}
	for _, row := range f.Rows {
		if !slices.Contains(Requests, row.Request) {
			return File{}, fmt.Errorf("read fault matrix: row %q: request %q is none of %q", row.Story, row.Request, Requests)
		}
	}
	return f, nil
}

// Write encodes f, indented, with a final newline.
func Write(w io.Writer, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Sort orders rows by request type, kind, spec, subject, epmd, action,
// story.
func Sort(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := slices.Index(Requests, a.Request) - slices.Index(Requests, b.Request); c != 0 {
			return c
		}
		for _, p := range [][2]string{{a.Kind, b.Kind}, {a.Spec, b.Spec}, {a.Subject, b.Subject},
			{a.Epmd, b.Epmd}, {a.Action, b.Action}, {a.Story, b.Story}} {
			if c := strings.Compare(p[0], p[1]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// Merge returns the committed matrix updated by a run. A whole run's rows
// (no filter) replace it; a filtered run's replace every row of the
// stories it recorded (so a story's changed action or outcome leaves no
// old row behind) and keep the others. The result is sorted and keeps no
// filter.
func Merge(committed, run File) File {
	out := File{}
	if run.Filter == "" {
		out.Rows = slices.Clone(run.Rows)
	} else {
		ran := map[string]bool{}
		for _, r := range run.Rows {
			ran[r.Story] = true
		}
		for _, r := range committed.Rows {
			if !ran[r.Story] {
				out.Rows = append(out.Rows, r)
			}
		}
		out.Rows = append(out.Rows, run.Rows...)
	}
	Sort(out.Rows)
	return out
}

// Markdown renders the rows as one table per request type: spec, subject,
// epmd, action, outcome (with the pinned set when there is one), time.
func Markdown(title string, rows []Row) string {
	var b strings.Builder
	b.WriteString("# " + title + "\n")
	for _, req := range Requests {
		first := true
		for _, r := range rows {
			if r.Request != req {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n## %s\n\n| spec | subject | epmd | action | outcome | took |\n|---|---|---|---|---|---|\n", req)
				first = false
			}
			out := r.Outcome
			if r.Pinned != "" {
				out += " (pinned: " + r.Pinned + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", code(r.Spec), r.Subject, r.Epmd, cell(r.Action), cell(out), seconds(r.Took()))
		}
	}
	return b.String()
}

// seconds is d in seconds with two decimals: "2.01 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// code is s as inline code in a table cell, "—" when empty.
func code(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// cell is s in a table cell: pipes escaped, lines joined with <br>.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`), "\n", "<br>")
}
