package matrix_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

func row(req, kind, spec, subject, action, outcome string) matrix.Row {
	return matrix.Row{Subject: subject, Epmd: "chaos-epmd", Request: req, Kind: kind, Spec: spec,
		Action: action, Outcome: outcome, TookMS: 1500, Story: "story " + spec}
}

func TestSort(t *testing.T) {
	rows := []matrix.Row{
		row(matrix.Daemon, "stall", "stall=3", "OTP 25", "ping", "pong"),
		row(matrix.PortPlease, "drop", "drop,req=port_please", "OTP 29", "lookup", "closed"),
		row(matrix.Alive2, "hang", "hang,req=alive2", "OTP 25", "erl", "exit 1"),
		row(matrix.PortPlease, "drop", "drop,req=port_please", "OTP 25", "lookup", "closed"),
		row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl", "exit 1"),
	}
	matrix.Sort(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.Request+" "+r.Spec+" "+r.Subject)
	}
	want := []string{
		"ALIVE2 drop,req=alive2 OTP 25",
		"ALIVE2 hang,req=alive2 OTP 25",
		"PORT_PLEASE2 drop,req=port_please OTP 25",
		"PORT_PLEASE2 drop,req=port_please OTP 29",
		"daemon stall=3 OTP 25",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sorted:\n%q\nwant\n%q", got, want)
	}
}

func TestMerge(t *testing.T) {
	old := row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl", "exit 1")
	oldToo := old
	oldToo.Action = "erl, as it was called"
	kept := row(matrix.Alive2, "hang", "hang,req=alive2", "OTP 25", "erl", "exit 1")
	renewed := old
	renewed.Outcome = "exit 2"
	added := row(matrix.PortPlease, "drop", "drop,req=port_please", "OTP 25", "lookup", "closed")
	committed := matrix.File{Rows: []matrix.Row{old, oldToo, kept}}
	tests := []struct {
		name string
		run  matrix.File
		want []matrix.Row
	}{
		{name: "a filtered run replaces its stories' rows and keeps the others",
			run: matrix.File{Filter: "fault:drop", Rows: []matrix.Row{added, renewed}}, want: []matrix.Row{renewed, kept, added}},
		{name: "a whole run replaces every row",
			run: matrix.File{Rows: []matrix.Row{added}}, want: []matrix.Row{added}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := matrix.Merge(committed, tc.run)
			if got.Filter != "" || !slices.Equal(got.Rows, tc.want) {
				t.Errorf("merged %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReadWrite(t *testing.T) {
	f := matrix.File{Rows: []matrix.Row{row(matrix.Names, "hang", "hang,req=names", "OTP 27", "net_adm:names()", "{error,timeout}")}}
	var b bytes.Buffer
	if err := matrix.Write(&b, f); err != nil {
		t.Fatal(err)
	}
	got, err := matrix.Read(&b)
	if err != nil || !slices.Equal(got.Rows, f.Rows) {
		t.Errorf("read back %+v, %v; want %+v", got, err, f)
	}
	tests := []struct {
		name, json, err string
	}{
		{name: "unknown request", json: `{"filter":"","rows":[{"request":"KILL","story":"s"}]}`,
			err: `read fault matrix: row "s": request "KILL" is none of ["ALIVE2" "PORT_PLEASE2" "NAMES" "accept" "daemon"]`},
		{name: "unknown field", json: `{"rows":[{"colour":1}]}`, err: `read fault matrix: json: unknown field "colour"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := matrix.Read(strings.NewReader(tc.json))
			if err == nil || err.Error() != tc.err {
				t.Errorf("error %v, want %s", err, tc.err)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	r := row(matrix.PortPlease, "drop", "drop,req=accept|port_please", "OTP 25", "erl_epmd:port_please/2", "closed")
	r.Pinned = "closed | noport: a race"
	got := matrix.Markdown("Matrix", []matrix.Row{row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl -sname x", "exit 1\nepmd_close"), r})
	want := "# Matrix\n" +
		"\n## ALIVE2\n\n| spec | subject | epmd | action | outcome | took |\n|---|---|---|---|---|---|\n" +
		"| `drop,req=alive2` | OTP 25 | chaos-epmd | erl -sname x | exit 1<br>epmd_close | 1.50 s |\n" +
		"\n## PORT_PLEASE2\n\n| spec | subject | epmd | action | outcome | took |\n|---|---|---|---|---|---|\n" +
		"| `drop,req=accept\\|port_please` | OTP 25 | chaos-epmd | erl_epmd:port_please/2 | closed (pinned: closed \\| noport: a race) | 1.50 s |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSummaries(t *testing.T) {
	rows := []matrix.Row{
		row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl -sname x", "exit 1"),
		row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 29", "erl -sname x", "exit 1"),
		row(matrix.Alive2, "drop", "drop,req=alive2", "Elixir 1.14.0 (OTP 25)", "erl -sname x", "exit 2"),
	}
	kinds := []matrix.Kind{{Name: "drop", Syntax: "drop", Effect: "close (FIN)"}, {Name: "phantom", Syntax: "phantom=N", Effect: "ghosts"}}
	want := "| fault | effect on the wire | what real nodes did (observed: request, spec, action → outcome (subjects)) |\n|---|---|---|\n" +
		"| `drop` | close (FIN) | ALIVE2 `drop,req=alive2`, erl -sname x → `exit 1` (OTP 25, OTP 29)<br>ALIVE2 `drop,req=alive2`, erl -sname x → `exit 2` (Elixir 1.14.0 (OTP 25)) |\n" +
		"| `phantom=N` | ghosts | not observed by the scenarios |\n"
	if got := matrix.Summary(kinds, rows); got != want {
		t.Errorf("Summary:\n%s\nwant\n%s", got, want)
	}
	wantKind := "- ALIVE2 `drop,req=alive2`, erl -sname x → `exit 1` (OTP 25, OTP 29)\n" +
		"- ALIVE2 `drop,req=alive2`, erl -sname x → `exit 2` (Elixir 1.14.0 (OTP 25))\n"
	if got := matrix.KindSummary("drop", rows); got != wantKind {
		t.Errorf("KindSummary:\n%s\nwant\n%s", got, wantKind)
	}
	if got := matrix.KindSummary("phantom", rows); got != "- not observed by the scenarios\n" {
		t.Errorf("KindSummary of a kind without rows: %q", got)
	}
}

func TestSplice(t *testing.T) {
	doc := "a\n<!-- fault-matrix:x -->\nold\n<!-- /fault-matrix:x -->\nb\n"
	got, err := matrix.Splice(doc, "x", "new 1\nnew 2\n")
	if want := "a\n<!-- fault-matrix:x -->\nnew 1\nnew 2\n<!-- /fault-matrix:x -->\nb\n"; err != nil || got != want {
		t.Errorf("Splice = %q, %v; want %q", got, err, want)
	}
	for _, d := range []string{"a\n", "<!-- fault-matrix:x -->\nold\n"} {
		if _, err := matrix.Splice(d, "x", ""); !errors.Is(err, matrix.ErrNoMarkers) {
			t.Errorf("Splice(%q): %v, want ErrNoMarkers", d, err)
		}
	}
}

func TestReadJUnit(t *testing.T) {
	const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="s">
<properties><property name="LabelFilter" value="fault:drop"></property><property name="FocusStrings" value=""></property></properties>
<testcase name="a" status="passed"><properties>
<property name="fault-outcome" value="{&#34;subject&#34;:&#34;OTP 25&#34;,&#34;epmd&#34;:&#34;chaos-epmd&#34;,&#34;request&#34;:&#34;ALIVE2&#34;,&#34;kind&#34;:&#34;drop&#34;,&#34;spec&#34;:&#34;drop,req=alive2&#34;,&#34;action&#34;:&#34;erl -sname x&#34;,&#34;outcome&#34;:&#34;exit 1&#34;,&#34;took_ms&#34;:280,&#34;story&#34;:&#34;a&#34;}"></property>
<property name="log" value="&#34;x&#34;"></property>
</properties></testcase>
<testcase name="b" status="failed"><properties>
<property name="fault-outcome" value="{&#34;subject&#34;:&#34;OTP 29&#34;,&#34;request&#34;:&#34;ALIVE2&#34;,&#34;story&#34;:&#34;b&#34;}"></property>
</properties></testcase>
</testsuite></testsuites>`
	got, err := matrix.ReadJUnit(strings.NewReader(report))
	want := matrix.File{Filter: "fault:drop", Rows: []matrix.Row{{Subject: "OTP 25", Epmd: "chaos-epmd", Request: "ALIVE2", Kind: "drop",
		Spec: "drop,req=alive2", Action: "erl -sname x", Outcome: "exit 1", TookMS: 280, Story: "a"}}}
	if err != nil || got.Filter != want.Filter || !slices.Equal(got.Rows, want.Rows) {
		t.Errorf("ReadJUnit = %+v, %v; want %+v", got, err, want)
	}
}

func TestReadSpecsAndPrune(t *testing.T) {
	const report = `[{"SpecReports":[
{"ContainerHierarchyTexts":["Faults","on ALIVE2"],"LeafNodeText":"drop","LeafNodeType":"It"},
{"ContainerHierarchyTexts":["Faults"],"LeafNodeText":"","LeafNodeType":"BeforeAll"},
{"ContainerHierarchyTexts":null,"LeafNodeText":"","LeafNodeType":"ReportAfterSuite"}]}]`
	stories, err := matrix.ReadSpecs(strings.NewReader(report))
	if want := []string{"Faults on ALIVE2 drop"}; err != nil || !slices.Equal(stories, want) {
		t.Fatalf("ReadSpecs = %q, %v; want %q", stories, err, want)
	}
	kept := row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl", "exit 1")
	kept.Story = "Faults on ALIVE2 drop"
	gone := row(matrix.Alive2, "drop", "drop,req=alive2", "OTP 25", "erl", "exit 1")
	gone.Story = "Faults on ALIVE2 drop, as it was called"
	got, dropped := matrix.Prune(matrix.File{Rows: []matrix.Row{gone, kept}}, stories)
	if !slices.Equal(got.Rows, []matrix.Row{kept}) || !slices.Equal(dropped, []matrix.Row{gone}) {
		t.Errorf("Prune kept %+v, dropped %+v", got.Rows, dropped)
	}
}
