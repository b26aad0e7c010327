package scenarios_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// The fault-outcome matrix: what each subject (an OTP release, or an
// application and its version on one) did under each fault spec, recorded
// by the stories themselves.
//
// A story records one row per thing it observed with recordOutcome, after
// it has the value and before (or after) it asserts on it:
//
//	recordOutcome(matrix.Row{
//		Subject: otpSubject(erlangfixtures.OTP25),   // or appSubject("Elixir", erlangfixtures.Elixir, r)
//		Epmd:    epmdName(erlangfixtures.EpmdChaos), // "chaos-epmd" or "C epmd"
//		Request: reqPortPlease,                      // what the fault hit: reqAlive2, reqPortPlease, reqNames, reqAccept, reqDaemon ("" = the spec's req=)
//		Spec:    "drop,req=port_please",             // the exact spec that produced it ("" for a no-fault control)
//		Action:  "erl_epmd:port_please/2; net_adm:ping/1",
//		Outcome: "closed; pang",                     // the exact text, term or exit status seen
//		Pinned:  "",                                 // when the story accepts a set (a race): "closed | noport: the close races OTP's send"
//	}, took)
//
// Kind, TookMS and Story are filled in by recordOutcome.
//
// recordOutcome adds a Ginkgo report entry named "fault-outcome" whose
// value is the row (so the JUnit report carries it as a property of that
// name, JSON-encoded). After the suite, on the first process, every row of
// a spec that passed is written to build/fault-matrix.json and
// build/fault-matrix.md (one row per subject × spec × action, grouped by
// request type). `make fault-matrix` merges that into the committed
// scenarios/testdata/fault-matrix.json and regenerates the README tables
// from it (cmd/fault-matrix).

// matrixEntry is the name of the report entries that carry matrix rows.
const matrixEntry = matrix.EntryName

// The request types a row is grouped by (matrix.Requests): the request the
// fault acted on, or daemon for faults on the whole daemon.
const (
	reqAlive2     = matrix.Alive2
	reqPortPlease = matrix.PortPlease
	reqNames      = matrix.Names
	reqAccept     = matrix.Accept
	reqDaemon     = matrix.Daemon
)

// recordOutcome adds r, whose action took took, to the fault-outcome matrix as a report entry named
// matrixEntry, whose value is the matrix.Row (see the comment above). An
// empty Request is taken from the spec's req= when it names one request
// type. It fails the spec when the spec does not parse, the request type
// cannot be told, or the subject, epmd or action is missing.
func recordOutcome(r matrix.Row, took time.Duration) {
	GinkgoHelper()
	if r.Spec != "" {
		f, err := faults.Parse(r.Spec)
		if err != nil {
			Fail(fmt.Sprintf("recordOutcome: %v", err))
		}
		r.Kind = f.Kind()
		if r.Request == "" {
			r.Request = requestOfSpec(f)
		}
	}
	if !slices.Contains(matrix.Requests, r.Request) {
		Fail(fmt.Sprintf("recordOutcome: request %q of %q is none of %q", r.Request, r.Spec, matrix.Requests))
	}
	if r.Subject == "" || r.Epmd == "" || r.Action == "" {
		Fail(fmt.Sprintf("recordOutcome: subject, epmd and action are needed: %+v", r))
	}
	r.TookMS = took.Round(10 * time.Millisecond).Milliseconds()
	r.Story = CurrentSpecReport().FullText()
	AddReportEntry(matrixEntry, r)
}

// requestOfSpec is the request type a spec's req= names when it names
// exactly one the matrix groups by, else "".
func requestOfSpec(f faults.Fault) string {
	switch f.Req.String() {
	case "alive2":
		return reqAlive2
	case "port_please":
		return reqPortPlease
	case "names":
		return reqNames
	case "accept":
		return reqAccept
	}
	return ""
}

// otpSubject is the matrix subject of a bare OTP release: "OTP 25".
func otpSubject(r erlangfixtures.Release) string { return fmt.Sprintf("OTP %d", r.OTP()) }

// appSubject is the matrix subject of an application on a release:
// "Elixir 1.14.0 (OTP 25)".
func appSubject(name string, a *erlangfixtures.Application, r erlangfixtures.Release) string {
	return fmt.Sprintf("%s %s (OTP %d)", name, a.Versions[r], r.OTP())
}

// epmdName is the matrix name of an epmd mode.
func epmdName(m erlangfixtures.EpmdMode) string {
	if m == erlangfixtures.EpmdC {
		return "C epmd"
	}
	return "chaos-epmd"
}

// The matrix of the whole run, from every process's reports: the rows of
// the specs that passed, written only when there is one, so that a run of
// other specs leaves the last matrix in place. FAULT_MATRIX_DIR, when set,
// is the folder written instead of build/.
var _ = ReportAfterSuite("fault-outcome matrix", func(r Report) {
	m := matrix.File{Filter: strings.TrimSpace(strings.Join(append([]string{r.SuiteConfig.LabelFilter}, r.SuiteConfig.FocusStrings...), " "))}
	for _, s := range r.SpecReports {
		if s.State != types.SpecStatePassed {
			continue
		}
		for _, e := range s.ReportEntries {
			if e.Name != matrixEntry {
				continue
			}
			// A row from another process arrives decoded from JSON.
			b, err := json.Marshal(e.GetRawValue())
			if err != nil {
				Fail(fmt.Sprintf("fault-outcome entry of %q: %v", s.FullText(), err))
			}
			var row matrix.Row
			if err := json.Unmarshal(b, &row); err != nil {
				Fail(fmt.Sprintf("fault-outcome entry of %q: %v", s.FullText(), err))
			}
			m.Rows = append(m.Rows, row)
		}
	}
	if len(m.Rows) == 0 {
		return
	}
	matrix.Sort(m.Rows)
	dir := filepath.Join("..", "build")
	if d := os.Getenv("FAULT_MATRIX_DIR"); d != "" {
		dir = d // the flake guard's repeats keep the whole run's matrix in place
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		Fail(err.Error())
	}
	f, err := os.Create(filepath.Join(dir, "fault-matrix.json"))
	if err != nil {
		Fail(err.Error())
	}
	defer f.Close()
	if err := matrix.Write(f, m); err != nil {
		Fail(err.Error())
	}
	md := matrix.Markdown("Fault-outcome matrix of the last run", m.Rows)
	if err := os.WriteFile(filepath.Join(dir, "fault-matrix.md"), []byte(md), 0o644); err != nil {
		Fail(err.Error())
	}
})
