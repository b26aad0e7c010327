package matrix

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// Kind is a fault kind as the documentation's tables show it.
type Kind struct {
	Name   string // as written in specs: delay_write
	Syntax string // delay_write=DUR
	Effect string // on the wire, one line
}

// Kinds is every fault kind of the faults package (faults.Catalogue), as
// the tables show them.
func Kinds() []Kind {
	var ks []Kind
	for _, d := range faults.Catalogue() {
		ks = append(ks, Kind{Name: d.Name, Syntax: d.Syntax, Effect: d.Summary})
	}
	return ks
}

// group is the rows of one kind that did the same thing: one request, spec,
// action and result, on one or more subjects and epmds.
type group struct {
	request, spec, action, result string
	subjects                      []string
}

// groups collects the rows of kind by request, spec, action and result,
// in the rows' order.
func groups(rows []Row, kind string) []*group {
	var gs []*group
	for _, r := range rows {
		if r.Kind != kind {
			continue
		}
		var g *group
		for _, h := range gs {
			if h.request == r.Request && h.spec == r.Spec && h.action == r.Action && h.result == r.Result() {
				g = h
				break
			}
		}
		if g == nil {
			g = &group{request: r.Request, spec: r.Spec, action: r.Action, result: r.Result()}
			gs = append(gs, g)
		}
		if !slices.Contains(g.subjects, r.Subject) {
			g.subjects = append(g.subjects, r.Subject)
		}
	}
	return gs
}

// line is a group in one line of Markdown: request, spec, action, result
// and the subjects it was seen on.
func (g *group) line() string {
	return fmt.Sprintf("%s %s, %s → %s (%s)", g.request, code(g.spec), g.action, quote(g.result), strings.Join(g.subjects, ", "))
}

// quote is an outcome in inline code, its lines joined by " ⏎ ".
func quote(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "\n", " ⏎ ")), " ")
	if strings.Contains(s, "`") {
		return "``" + s + "``"
	}
	return "`" + s + "`"
}

// Summary is the README's table of fault kinds: syntax, effect on the
// wire, and every distinct observation of the kind in rows. A kind with
// no row says so.
func Summary(kinds []Kind, rows []Row) string {
	var b strings.Builder
	b.WriteString("| fault | effect on the wire | what real nodes did (observed: request, spec, action → outcome (subjects)) |\n|---|---|---|\n")
	for _, k := range kinds {
		var seen []string
		for _, g := range groups(rows, k.Name) {
			seen = append(seen, strings.ReplaceAll(g.line(), "|", `\|`))
		}
		if len(seen) == 0 {
			seen = []string{"not observed by the scenarios"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", code(k.Syntax), cell(k.Effect), strings.Join(seen, "<br>"))
	}
	return b.String()
}

// KindSummary is the bullet list of faults/README.md's section of kind:
// one item per distinct observation.
func KindSummary(kind string, rows []Row) string {
	gs := groups(rows, kind)
	if len(gs) == 0 {
		return "- not observed by the scenarios\n"
	}
	var b strings.Builder
	for _, g := range gs {
		b.WriteString("- " + g.line() + "\n")
	}
	return b.String()
}

// ErrNoMarkers is returned by Splice when a document lacks a section's
// markers.
var ErrNoMarkers = errors.New("markers not found")

// Splice replaces the text between the lines "<!-- fault-matrix:NAME -->"
// and "<!-- /fault-matrix:NAME -->" of doc with content (which ends with a
// newline), keeping the marker lines.
func Splice(doc, name, content string) (string, error) {
	begin, end := "<!-- fault-matrix:"+name+" -->\n", "<!-- /fault-matrix:"+name+" -->"
	i := strings.Index(doc, begin)
	if i < 0 {
		return "", fmt.Errorf("splice %s: %w", name, ErrNoMarkers)
	}
	i += len(begin)
	j := strings.Index(doc[i:], end)
	if j < 0 {
		return "", fmt.Errorf("splice %s: %w", name, ErrNoMarkers)
	}
	return doc[:i] + content + doc[i+j:], nil
}

// Docs returns readme (README.md) and faultsReadme (faults/README.md) with
// their generated parts made from rows: the README's table of kinds
// (markers "kinds") and, in faults/README.md, each kind's observations
// (markers named after the kind).
func Docs(kinds []Kind, rows []Row, readme, faultsReadme string) (string, string, error) {
	readme, err := Splice(readme, "kinds", Summary(kinds, rows))
	if err != nil {
		return "", "", fmt.Errorf("README.md: %w", err)
	}
	for _, k := range kinds {
		faultsReadme, err = Splice(faultsReadme, k.Name, KindSummary(k.Name, rows))
		if err != nil {
			return "", "", fmt.Errorf("faults/README.md: %w", err)
		}
	}
	return readme, faultsReadme, nil
}
